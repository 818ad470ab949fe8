"""English and French UI texts: one catalog per language, merged from the area modules."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Protocol

from vigil.web.messages import (
    accounts,
    activity,
    activity_pages,
    anonymize,
    cameras,
    common,
    jobs,
    live,
    system,
    visitors,
    watchlist,
)

LANGUAGES = ("en", "fr")
LANG_COOKIE = "vigil_lang"
# Explicit list (no import-time discovery): a new area is added here.
AREAS: tuple[ModuleType, ...] = (
    common, live, cameras, visitors, system, jobs, accounts, watchlist, anonymize, activity, activity_pages,
)  # fmt: skip


def _catalogs() -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {lang: {} for lang in LANGUAGES}
    for area in AREAS:
        for lang in LANGUAGES:
            merged[lang].update(area.MESSAGES[lang])
    return merged


CATALOGS = _catalogs()


def pick_language(cookie: str | None, accept_language: str | None, default: str) -> str:
    """The user's choice (cookie), else the browser's first supported language, else `default`."""
    if cookie in LANGUAGES:
        return str(cookie)
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return default


def translator(lang: str) -> Callable[..., str]:
    catalog, fallback = CATALOGS.get(lang, CATALOGS["en"]), CATALOGS["en"]

    def t(key: str, **values: object) -> str:
        text = catalog.get(key) or fallback.get(key) or key
        return text.format(**values) if values else text

    return t


class NumberFormat(Protocol):
    def __call__(self, value: float, digits: int = 1) -> str: ...


def number_formatter(lang: str) -> NumberFormat:
    """`value` with `digits` decimals in the page's language (French: a decimal comma), as the
    pages' scripts write it with Intl.NumberFormat."""

    def number(value: float, digits: int = 1) -> str:
        text = f"{value:.{digits}f}"
        return text.replace(".", ",") if lang == "fr" else text

    return number
