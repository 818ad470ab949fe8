"""Seed 000's STEP5 settings routes: chunk bounds and CPU/GPU configuration.

The values live on `app.state.step5` (a `Step5Store`) and are the defaults of the next batch
job (`vigil.api.jobs`), as the seed's values were for the next STEP5 run. Responses keep the
seed's envelope: `{"status": "success"|"error", "message": ...}` plus the fields below.

`POST /api/step5/chunk_bounds` reproduces the seed's route, which normalises each of `min`/`max`
(missing or null → default; an int as is; anything else through `int(value)`, failure → 400
"Paramètres invalides") and then lets the service refuse non-positive values (400 "Paramètres
invalides (min/max)"). Where the seed is silent or its code contradicts its documented rule
("integer > 0 or null; non-integers → 400"), we choose, see docs/api.md:
- a non-integral number (12.5) is refused instead of truncated; an integral one (100.0) and an
  integer string ("100") are accepted, as `int()` did; booleans are refused (not integers);
- after defaults are applied, min > max is refused (the seed's worker silently swapped them);
- a body that is not JSON, or not a JSON object, or that has keys other than min/max, is refused
  (the seed read it with `silent=True` and so reset both bounds on a typo);
- each error body adds `detail`, an English sentence saying what to fix.
"""

from __future__ import annotations

import json
import math
import os
import threading
from dataclasses import dataclass, replace
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from vigil.batch.chunking import DEFAULT_CHUNK_MAX, DEFAULT_CHUNK_MIN
from vigil.batch.settings import BatchSettings

MAX_CPU_WORKERS = 256  # the range of BatchSettings.cpu_workers / TRACKING_CPU_WORKERS
MAX_CHUNK = 1_000_000  # the range of BatchSettings.chunk_min/chunk_max
INVALID = "Paramètres invalides"
INVALID_BOUNDS = "Paramètres invalides (min/max)"
GPU_UNAVAILABLE = (
    "GPU requested but unavailable: seed 000 reserves the GPU for InsightFace, whose models Vigil "
    "cannot ship; every Vigil engine runs on the CPU"
)

router = APIRouter(prefix="/api/step5", tags=["step5"])


@dataclass(frozen=True)
class Step5Config:
    """Batch defaults set through the API. A None bound means the base bound, which comes from
    the batch settings (`TRACKING_CHUNK_MIN/MAX`, else 20..400)."""

    chunk_min: int | None = None
    chunk_max: int | None = None
    base_chunk_min: int = DEFAULT_CHUNK_MIN
    base_chunk_max: int = DEFAULT_CHUNK_MAX
    use_gpu_requested: bool = False
    cpu_workers: int = 2

    @property
    def effective_chunk_min(self) -> int:
        return self.base_chunk_min if self.chunk_min is None else self.chunk_min

    @property
    def effective_chunk_max(self) -> int:
        return self.base_chunk_max if self.chunk_max is None else self.chunk_max


def step5_defaults(settings: BatchSettings) -> Step5Config:
    """The starting point of `/api/step5/*`: the batch settings (environment, .env)."""
    return Step5Config(
        base_chunk_min=settings.chunk_min, base_chunk_max=settings.chunk_max, cpu_workers=settings.cpu_workers
    )


class Step5Store:
    """Thread-safe holder of the current Step5Config (request handlers run in a thread pool)."""

    def __init__(self, initial: Step5Config) -> None:
        self._lock = threading.Lock()
        self._config = initial

    def get(self) -> Step5Config:
        with self._lock:
            return self._config

    def update(self, **changes: Any) -> Step5Config:
        with self._lock:
            self._config = replace(self._config, **changes)
            return self._config


def _store(request: Request) -> Step5Store:
    store: Step5Store = request.app.state.step5
    return store


def _error(message: str, detail: str) -> JSONResponse:
    return JSONResponse({"status": "error", "message": message, "detail": detail}, status_code=400)


async def _json_object(request: Request) -> dict[str, Any] | JSONResponse:
    """The body as a JSON object; an empty body is `{}` (the seed's `or {}`)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        payload = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return _error(INVALID, f"the request body is not valid JSON: {exc}")
    if not isinstance(payload, dict):
        return _error(INVALID, f"the request body must be a JSON object, got a JSON {type(payload).__name__}")
    return payload


def _unknown_keys(payload: dict[str, Any], allowed: tuple[str, ...]) -> JSONResponse | None:
    unknown = sorted(set(payload) - set(allowed))
    if unknown:
        return _error(INVALID, f"unknown field(s) {', '.join(unknown)}; expected {', '.join(allowed)}")
    return None


def normalise_bound(value: object) -> int | None | Literal["invalid"]:
    """The seed's `_norm`: None stays None, an integer stays, anything else goes through int()."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "invalid"
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else "invalid"
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return "invalid"
    return "invalid"


def _bounds_problem(chunk_min: int | None, chunk_max: int | None, current: Step5Config) -> str | None:
    for name, value in (("min", chunk_min), ("max", chunk_max)):
        if value is not None and value <= 0:
            return f"{name} must be a positive integer or null, got {value}"
        if value is not None and value > MAX_CHUNK:
            return f"{name} must be at most {MAX_CHUNK}, got {value}"
    low = current.base_chunk_min if chunk_min is None else chunk_min
    high = current.base_chunk_max if chunk_max is None else chunk_max
    if low > high:
        defaults = f"{current.base_chunk_min}..{current.base_chunk_max}"
        return f"min ({low}) must not exceed max ({high}); null means the default {defaults}"
    return None


def _bounds_body(config: Step5Config) -> dict[str, Any]:
    return {
        "min": config.chunk_min,
        "max": config.chunk_max,
        "effective": {"min": config.effective_chunk_min, "max": config.effective_chunk_max},
    }


def _json_body(properties: dict[str, Any], example: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI for a raw JSON-object body (the handlers parse it themselves for the seed's errors)."""
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    return {"requestBody": {"content": {"application/json": {"schema": schema, "example": example}}}}


_BOUNDS_SCHEMA = _json_body(
    {
        "min": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_CHUNK},
        "max": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_CHUNK},
    },
    {"min": 100, "max": 500},
)


@router.post("/chunk_bounds", openapi_extra=_BOUNDS_SCHEMA)
async def set_chunk_bounds(request: Request) -> JSONResponse:
    """Set the adaptive chunk size bounds of the next batch jobs (null resets to 20..400)."""
    payload = await _json_object(request)
    if isinstance(payload, JSONResponse):
        return payload
    if (unknown := _unknown_keys(payload, ("min", "max"))) is not None:
        return unknown
    chunk_min = normalise_bound(payload.get("min"))
    chunk_max = normalise_bound(payload.get("max"))
    if chunk_min == "invalid" or chunk_max == "invalid":
        return _error(INVALID, 'min and max must be integers or null, e.g. {"min": 100, "max": 500}')
    store = _store(request)
    if (problem := _bounds_problem(chunk_min, chunk_max, store.get())) is not None:
        return _error(INVALID_BOUNDS, problem)
    config = store.update(chunk_min=chunk_min, chunk_max=chunk_max)
    return JSONResponse({"status": "success", "message": "Chunk bounds updated", **_bounds_body(config)})


@router.get("/chunk_bounds")
def get_chunk_bounds(request: Request) -> JSONResponse:
    """The current chunk bounds (null = default) and the effective values."""
    return JSONResponse({"status": "success", **_bounds_body(_store(request).get())})


def _configuration_body(config: Step5Config) -> dict[str, Any]:
    warnings = [GPU_UNAVAILABLE] if config.use_gpu_requested else []
    cores = os.cpu_count() or 1
    if config.cpu_workers > cores:
        warnings.append(f"cpu_workers={config.cpu_workers} exceeds the {cores} CPU cores (they share them)")
    return {
        "use_gpu": False,
        "cpu_workers": config.cpu_workers,
        "requested": {"use_gpu": config.use_gpu_requested, "cpu_workers": config.cpu_workers},
        "warnings": warnings,
    }


def _configuration_problem(payload: dict[str, Any]) -> str | None:
    use_gpu = payload.get("use_gpu")
    if "use_gpu" in payload and not isinstance(use_gpu, bool):
        return f"use_gpu must be true or false, got {use_gpu!r}"
    workers = payload.get("cpu_workers")
    if "cpu_workers" in payload and (
        isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_CPU_WORKERS
    ):
        return f"cpu_workers must be an integer from 1 to {MAX_CPU_WORKERS}, got {workers!r}"
    return None


_CONFIGURATION_SCHEMA = _json_body(
    {
        "use_gpu": {"type": "boolean"},
        "cpu_workers": {"type": "integer", "minimum": 1, "maximum": MAX_CPU_WORKERS},
    },
    {"use_gpu": False, "cpu_workers": 2},
)


@router.post("/configuration", openapi_extra=_CONFIGURATION_SCHEMA)
async def set_configuration(request: Request) -> JSONResponse:
    """Set GPU use and CPU workers of the next batch jobs; omitted fields keep their value.
    Returns the effective configuration: Vigil's engines are CPU-only, so use_gpu is false."""
    payload = await _json_object(request)
    if isinstance(payload, JSONResponse):
        return payload
    if (unknown := _unknown_keys(payload, ("use_gpu", "cpu_workers"))) is not None:
        return unknown
    if (problem := _configuration_problem(payload)) is not None:
        return _error(INVALID, problem)
    changes: dict[str, Any] = {}
    if "use_gpu" in payload:
        changes["use_gpu_requested"] = payload["use_gpu"]
    if "cpu_workers" in payload:
        changes["cpu_workers"] = payload["cpu_workers"]
    config = _store(request).update(**changes)
    body = {"status": "success", "message": "Configuration updated", **_configuration_body(config)}
    return JSONResponse(body)


@router.get("/configuration")
def get_configuration(request: Request) -> JSONResponse:
    """The current effective configuration."""
    return JSONResponse({"status": "success", **_configuration_body(_store(request).get())})
