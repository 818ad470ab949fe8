"""Shared, bounded request parameters (unbounded ints overflow database integer columns)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

MAX_DB_ID = 2**31 - 1
DbId = Annotated[int, Path(ge=1, le=MAX_DB_ID, description="Row id")]
