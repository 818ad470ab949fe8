"""Texts of the system page(s)."""

MESSAGES: dict[str, dict[str, str]] = {"en": {}, "fr": {}}
