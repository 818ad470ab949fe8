"""Pass 2: decode every frame, cover its faces, encode H.264; the audio is copied untouched.

Frames stream through one at a time (memory does not grow with the video). Each frame keeps its
presentation timestamp in the input's time base, so frame rate, variable timing and A/V sync are
the input's; the resolution and the display rotation (display matrix) are kept too. The audio
stream's packets are remuxed as they are, never decoded. Frames without a face (and no per-frame
hook) go to the encoder as decoded, without a round trip through BGR."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error

from vigil.anonymize.fill import FaceSchedule
from vigil.anonymize.metadata import RemovedTag, kept_container_tags, kept_stream_tags, removed_tags
from vigil.anonymize.settings import FaceOptions, VideoOutputOptions
from vigil.anonymize.styles import FaceRegion, cover_faces
from vigil.batch.video import VideoInfo
from vigil.errors import SourceUnsupported
from vigil.types import Image

# Called on every frame before its faces are covered (e.g. clothes recolouring, which samples the
# face's skin): (BGR image, the frame's faces, each face's track number, 1-based frame number)
# -> the image (in place).
FrameHook = Callable[[Image, Sequence[FaceRegion], Sequence[int], int], Image]


class RenderCancelled(Exception):
    """The cancel event was set while rendering."""


@dataclass
class RenderStats:
    frames: int = 0
    frames_with_faces: int = 0
    boxes: int = 0
    max_faces: int = 0
    rotation: int = 0
    audio_codec: str | None = None
    audio_packets: int = 0
    removed: list[RemovedTag] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class RenderJob:
    source: Path
    target: Path  # written as it is; the caller renames it into place
    info: VideoInfo
    schedule: FaceSchedule
    faces: FaceOptions
    video: VideoOutputOptions
    strip_metadata: bool
    hook: FrameHook | None = None


def render(
    job: RenderJob,
    on_frame: Callable[[int], None] | None = None,
    cancel: threading.Event | None = None,
) -> RenderStats:
    """Writes the anonymised video to `job.target`. Raises SourceUnsupported when the input cannot
    be decoded, RenderCancelled when `cancel` is set."""
    started = time.perf_counter()
    stats = RenderStats(rotation=_rotation(job.source))
    try:
        with av.open(str(job.source)) as source, av.open(str(job.target), "w", format="mp4") as target:
            _render(job, source, target, stats, on_frame, cancel)
    except av.error.FFmpegError as exc:
        raise SourceUnsupported(f"{job.source}: cannot decode the video ({exc}); corrupt file?") from exc
    stats.seconds = time.perf_counter() - started
    return stats


def _render(
    job: RenderJob,
    source: Any,
    target: Any,
    stats: RenderStats,
    on_frame: Callable[[int], None] | None,
    cancel: threading.Event | None,
) -> None:
    vin = source.streams.video[0]
    ain = source.streams.audio[0] if source.streams.audio else None
    vin.thread_type = "AUTO"
    target.metadata.update(kept_container_tags(source.metadata, job.strip_metadata))
    vout = target.add_stream("libx264", rate=_rate(vin, job.info))
    vout.width, vout.height = job.info.width, job.info.height
    vout.pix_fmt = "yuv420p"
    vout.time_base = vin.time_base
    vout.codec_context.time_base = vin.time_base
    vout.options = {"crf": str(job.video.crf), "preset": job.video.preset}
    vout.metadata.update(kept_stream_tags(vin.metadata, job.strip_metadata))
    if stats.rotation:
        vout.set_display_rotation(stats.rotation)
    aout = None
    if ain is not None:
        aout = target.add_stream_from_template(ain)
        aout.metadata.update(kept_stream_tags(ain.metadata, job.strip_metadata))
        stats.audio_codec = ain.codec_context.codec.canonical_name  # "mp3", not the decoder "mp3float"
    carried = [(vin.index, "video", dict(vin.metadata))]
    if ain is not None:
        carried.append((ain.index, "audio", dict(ain.metadata)))
    stats.removed = removed_tags(dict(source.metadata), carried, job.strip_metadata)

    streams = [vin] if ain is None else [vin, ain]
    for packet in source.demux(*streams):
        if cancel is not None and cancel.is_set():
            raise RenderCancelled
        if packet.stream is ain:
            if packet.dts is None:  # the demuxer's flush packet
                continue
            packet.stream = aout
            target.mux(packet)
            stats.audio_packets += 1
            continue
        for frame in packet.decode():
            _encode(job, frame, vout, target, stats)
            if on_frame is not None:
                on_frame(stats.frames)
    for packet in vout.encode(None):
        target.mux(packet)


def _encode(job: RenderJob, frame: Any, vout: Any, target: Any, stats: RenderStats) -> None:
    number = job.info.frame_of(frame.pts) if frame.pts is not None else None
    faces = job.schedule.regions(number) if number is not None else []
    stats.frames += 1
    if faces:
        stats.frames_with_faces += 1
        stats.boxes += len(faces)
        stats.max_faces = max(stats.max_faces, len(faces))
    if faces or job.hook is not None:
        image = frame.to_ndarray(format="bgr24")
        if job.hook is not None:
            tracks = job.schedule.track_numbers(number) if number is not None else []
            image = job.hook(image, faces, tracks, number or 0)
        cover_faces(image, faces, job.faces.style, job.faces.pad)
        covered = av.VideoFrame.from_ndarray(image, format="bgr24")
        covered.pts, covered.time_base = frame.pts, frame.time_base
        frame = covered
    frame.pict_type = av.video.frame.PictureType.NONE  # let the encoder choose (not the input's)
    for packet in vout.encode(frame):
        target.mux(packet)


def _rate(stream: Any, info: VideoInfo) -> Fraction:
    rate = stream.average_rate or stream.guessed_rate
    return Fraction(rate) if rate else Fraction(info.fps).limit_denominator(1001)


def _rotation(path: Path) -> int:
    """The display rotation of the first frame (its display matrix), in degrees."""
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                return round(getattr(frame, "rotation", 0) or 0)
    except av.error.FFmpegError:
        return 0
    return 0
