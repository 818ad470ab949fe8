"""Helpers shared by the batch tracking tests."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import av
import numpy as np

from tests.conftest import shared_file
from vigil.batch.output import TrackingDocument
from vigil.batch.settings import BatchSettings
from vigil.batch.writer import TrackingWriter

SHARED_CLIPS = (
    "crowd_1080p.mp4",
    "expressions_640x360.mp4",
    "face_then_noface_hevc.mov",
    "hamilton_640x360.mp4",
    "no_face.mp4",
    "noface_then_face_hevc.mov",
    "single_face.mp4",
)
SEED_ENV_PREFIXES = ("STEP5_", "TRACKING_", "VIGIL_TRACK_")


def clean_env() -> dict[str, str]:
    """The environment without batch settings a developer may have exported."""
    return {k: v for k, v in os.environ.items() if not k.startswith(SEED_ENV_PREFIXES)}


def batch_settings(**overrides: Any) -> BatchSettings:
    """Settings from defaults + overrides only (no .env, shared YuNet model)."""
    models = shared_file("models/face_detection_yunet_2023mar.onnx").parent
    values: dict[str, Any] = {"models_dir": models, "cpu_workers": 1}
    values.update(overrides)
    return BatchSettings(**values)


def clip(name: str) -> Path:
    return shared_file(f"media/video/{name}")


def load_output(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def rewritten_through_the_models(path: Path, target: Path) -> bytes:
    """`path` (a tracking output) parsed into the output models and written again by the writer."""
    document = TrackingDocument.model_validate_json(path.read_bytes())
    writer = TrackingWriter(target)
    for frame in document.frames:
        writer.write_frame(frame)
    return writer.commit(document.metadata).read_bytes()


def object_ids(frames: list[dict[str, Any]]) -> list[str]:
    return [obj["id"] for frame in frames for obj in frame["tracked_objects"]]


def write_clip(source: Path, target: Path, first: int, count: int) -> Path:
    """Re-encode frames first..first+count-1 (0-based) of `source` into a small H.264 file."""
    with av.open(str(source)) as src, av.open(str(target), "w") as dst:
        stream_in = src.streams.video[0]
        stream = dst.add_stream("libx264", rate=round(float(stream_in.average_rate or 25)))
        stream.width, stream.height, stream.pix_fmt = stream_in.width, stream_in.height, "yuv420p"
        for index, frame in enumerate(src.decode(stream_in)):
            if index >= first + count:
                break
            if index >= first:
                image = frame.to_ndarray(format="rgb24")
                out = av.VideoFrame.from_ndarray(np.ascontiguousarray(image, dtype=np.uint8), format="rgb24")
                for packet in stream.encode(out):
                    dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    return target


def write_mjpeg_with_a_broken_frame(source: Path, target: Path, count: int, broken: int) -> Path:
    """An MJPEG AVI of the first `count` frames of `source` whose frame `broken` (1-based) has its
    JPEG data zeroed: the container still lists it, the decoder rejects it."""
    with av.open(str(source)) as src, av.open(str(target), "w") as dst:
        stream_in = src.streams.video[0]
        stream = dst.add_stream("mjpeg", rate=30)
        stream.width, stream.height, stream.pix_fmt = stream_in.width, stream_in.height, "yuvj420p"
        for index, frame in enumerate(src.decode(stream_in)):
            if index >= count:
                break
            image = np.ascontiguousarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
            for packet in stream.encode(
                av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuvj420p")
            ):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    data = bytearray(target.read_bytes())
    starts = [i for i in range(len(data) - 2) if data[i : i + 3] == b"\xff\xd8\xff"]
    begin, end = starts[broken - 1], starts[broken] - 16  # stop before the next chunk header
    data[begin:end] = bytes(end - begin)
    target.write_bytes(bytes(data))
    return target
