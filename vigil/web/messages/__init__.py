"""UI texts per area, in English and French. Each area module defines `MESSAGES[lang][key]`."""
