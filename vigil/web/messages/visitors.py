"""Texts of the visitors page(s)."""

MESSAGES: dict[str, dict[str, str]] = {"en": {}, "fr": {}}
