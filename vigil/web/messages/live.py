"""Texts of the live page(s)."""

MESSAGES: dict[str, dict[str, str]] = {"en": {}, "fr": {}}
