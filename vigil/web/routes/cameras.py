"""The cameras area: pages and API routes (being built)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
