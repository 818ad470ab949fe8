"""Seed 000's STEP5 settings routes: chunk bounds and CPU/GPU configuration.

The values live on the app context (`ctx.step5`, a `vigil.batch.step5.Step5Store`) and are the
defaults of the next batch job (`vigil.web.routes.track`), as the seed's values were for the next
STEP5 run. Admin only, like every batch route: they read and write server paths. Responses keep the
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

Two more of the seed's routes sit on top of the jobs API, with the same admin-only access:
- `POST /run/STEP5` starts a batch tracking job (`vigil.web.routes.track.create_job`) on the paths
  given, or on the videos a `videos_json_path` file lists (what the seed's manager read), and
  answers 202 with the job to poll at `/api/track/jobs/{id}`. The seed found its videos under its
  workflow's base folder; Vigil has none, so a call without videos is 400.
- `GET /api/system_monitor`: CPU and memory use of the machine and the STEP5 (tracking) jobs in
  progress with the seed's `[Progression-MultiLine]` line.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from vigil.batch.discover import read_videos_json
from vigil.batch.job import KIND as TRACK_KIND
from vigil.batch.progress import VideoProgress, multiline_line
from vigil.batch.step5 import MAX_CHUNK, MAX_CPU_WORKERS, Step5Config, Step5Store
from vigil.batch.sysmon import LoadMonitor
from vigil.errors import BadRequestError, VigilError
from vigil.web.context import get_ctx
from vigil.web.routes.track import JobRequest, create_job, job_status

INVALID = "Paramètres invalides"
INVALID_BOUNDS = "Paramètres invalides (min/max)"
GPU_UNAVAILABLE = (
    "GPU requested but unavailable: seed 000 reserves the GPU for InsightFace, whose models Vigil "
    "cannot ship; every Vigil engine runs on the CPU"
)

# No prefix: the seed's /run/STEP5 and /api/system_monitor live here too (app.py adds admin-only).
router = APIRouter(tags=["step5"])
PREFIX = "/api/step5"


def _store(request: Request) -> Step5Store:
    return get_ctx(request).step5


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


@router.post(f"{PREFIX}/chunk_bounds", openapi_extra=_BOUNDS_SCHEMA)
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
    config = store.set_chunk_bounds(chunk_min, chunk_max)
    return JSONResponse({"status": "success", "message": "Chunk bounds updated", **_bounds_body(config)})


@router.get(f"{PREFIX}/chunk_bounds")
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


@router.post(f"{PREFIX}/configuration", openapi_extra=_CONFIGURATION_SCHEMA)
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
    config = _store(request).set_configuration(payload.get("use_gpu"), payload.get("cpu_workers"))
    body = {"status": "success", "message": "Configuration updated", **_configuration_body(config)}
    return JSONResponse(body)


@router.get(f"{PREFIX}/configuration")
def get_configuration(request: Request) -> JSONResponse:
    """The current effective configuration."""
    return JSONResponse({"status": "success", **_configuration_body(_store(request).get())})


# ------------------------------------------------------------------ /run/STEP5, /api/system_monitor
_RUN_SCHEMA = _json_body(
    {
        "paths": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "videos_json_path": {"type": "string"},
        "out_dir": {"type": ["string", "null"]},
        "force": {"type": "boolean"},
    },
    {"paths": ["/data/project/docs"]},
)
_RUN_KEYS = ("paths", "videos_json_path", "out_dir", "force")


def _run_paths(payload: dict[str, Any]) -> list[str] | str:
    """The paths to track, or a sentence saying what is wrong."""
    paths, listing = payload.get("paths"), payload.get("videos_json_path")
    if paths is not None and (
        not isinstance(paths, list) or not paths or not all(isinstance(p, str) and p.strip() for p in paths)
    ):
        return "paths must be a non-empty list of file or folder paths"
    if listing is not None and not isinstance(listing, str):
        return "videos_json_path must be a path"
    found = list(paths or [])
    if listing is not None:
        try:
            found += [str(video) for video in read_videos_json(Path(listing))]
        except VigilError as exc:
            return str(exc)
    if not found:
        return "give paths (video files or folders) or videos_json_path (a JSON list of videos)"
    return found


@router.post("/run/STEP5", status_code=202, openapi_extra=_RUN_SCHEMA)
async def run_step5(request: Request) -> JSONResponse:
    """Start STEP5 (batch tracking) as a job; poll it at `/api/track/jobs/{job_id}`. Options not
    given come from /api/step5/* and the batch settings, as for `POST /api/track/jobs`."""
    payload = await _json_object(request)
    if isinstance(payload, JSONResponse):
        return payload
    if (unknown := _unknown_keys(payload, _RUN_KEYS)) is not None:
        return unknown
    paths = _run_paths(payload)
    if isinstance(paths, str):
        return _error(INVALID, paths)
    out_dir, force = payload.get("out_dir"), payload.get("force", False)
    if (out_dir is not None and not isinstance(out_dir, str)) or not isinstance(force, bool):
        return _error(INVALID, "out_dir must be a path or null, force true or false")
    body = JobRequest(paths=paths, out_dir=out_dir, force=force)
    try:
        job = await run_in_threadpool(create_job, body, get_ctx(request), Response())
    except BadRequestError as exc:  # no video, missing model file, output collision...
        return _error(INVALID, str(exc))
    return JSONResponse(
        {
            "status": "success",
            "message": f"STEP5 démarré: {len(job.videos)} vidéo(s)",
            "job_id": job.id,
            "job_url": f"/api/track/jobs/{job.id}",
            "job": job.model_dump(mode="json"),
        },
        status_code=202,
        headers={"Location": f"/api/track/jobs/{job.id}"},
    )


_monitor = LoadMonitor()


@router.get("/api/system_monitor")
def system_monitor(request: Request) -> JSONResponse:
    """CPU and memory use of the machine (null where it cannot be read) and the tracking jobs queued
    or running, with the seed's `[Progression-MultiLine]` line over their videos."""
    load = _monitor.read()
    jobs = [job_status(record) for record in get_ctx(request).jobs.list(kind=TRACK_KIND.name)]
    active = [job for job in jobs if job.state.active]
    running = [
        VideoProgress(Path(v.video), v.frames_done, v.total_frames, v.chunks_done, v.chunks_total, "running")
        for job in active
        for v in job.videos
        if v.state == "running"
    ]
    return JSONResponse(
        {
            "status": "success",
            "cpu": {
                "percent": load.cpu_percent,
                "count": load.cpu_count,
                "load_average": None if load.load_average is None else list(load.load_average),
            },
            "memory": {
                "percent": load.memory_percent,
                "used_mb": load.memory_used_mb,
                "total_mb": load.memory_total_mb,
            },
            "gpu": None,  # Vigil's engines run on the CPU
            "step5": {
                "running": bool(active),
                "progress_line": multiline_line(running),
                "jobs": [
                    {
                        "id": job.id,
                        "state": job.state.value,
                        "overall": job.overall,
                        "url": f"/api/track/jobs/{job.id}",
                    }
                    for job in active
                ],
            },
        }
    )
