"""Vigil HTTP API (FastAPI)."""
