"""The receiver URL setting of an outbox (the watchlist's registry, the activity reports)."""

from __future__ import annotations

__all__ = ["receiver_url"]


def receiver_url(value: str | None, setting: str) -> str | None:
    """None when empty; the URL trimmed when it is http(s) with a host; ValueError naming
    `setting` otherwise (for a pydantic field validator)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    scheme, _, rest = value.partition("://")
    if scheme.lower() not in ("http", "https") or not rest.strip("/"):
        raise ValueError(f"{setting} must be an http:// or https:// URL")
    return value
