"""Texts of the cameras page(s)."""

MESSAGES: dict[str, dict[str, str]] = {"en": {}, "fr": {}}
