"""Pass 2: decode every frame, cover its faces, encode H.264; the audio is copied untouched.

A video is rendered in chunks of frames (`plan_render`), the same chunks whatever the number of
workers: each chunk is decoded from the keyframe before its first frame (`FrameReader`), its
frames go through the per-frame hook and the face cover, and are encoded with libx264 into a
video-only segment (`render_chunk`). The chunks run in this process one after the other, or in
worker processes (chunks.py); `mux.py` then joins the segments' packets in frame order with the
input's audio packets (copied, never decoded) into the output. A hook's state is reset at every
chunk's start, so a chunk's frames are the same whichever process rendered it and whatever
came before: one worker and two give byte-identical files.

Each frame keeps its presentation timestamp in the input's time base, so frame rate, variable
timing and A/V sync are the input's; the resolution and the display rotation are kept too.
Frames without a face (and no hook) go to the encoder as decoded, without a round trip through
BGR. Frames stream through one at a time: memory does not grow with the video."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import av
import av.error
import numpy as np
from av.video.reformatter import Interpolation, VideoReformatter

from vigil.anonymize.fill import FaceSchedule
from vigil.anonymize.frame_paste import BgrReader, covered_frame, keep_colour_tags, pasteable
from vigil.anonymize.metadata import RemovedTag
from vigil.anonymize.settings import FaceOptions, VideoOutputOptions
from vigil.anonymize.styles import FaceRegion, cover_faces
from vigil.batch.chunking import FrameRange, plan_chunks
from vigil.batch.video import FrameReader, VideoInfo
from vigil.errors import InputError, SourceUnsupported, media_reason
from vigil.types import Image
from vigil.work_dirs import work_dir

# Called on every frame before its faces are covered (e.g. clothes recolouring, which samples the
# face's skin): (BGR image, the frame's faces, each face's track number, 1-based frame number)
# -> the image (in place).
FrameHook = Callable[[Image, Sequence[FaceRegion], Sequence[int], int], Image]
# Called at every chunk's start with the chunk: forget the frames before (the chunk's task holds
# what the hook may use: its faceless people's file-wide keys, where its followed people are).
HookReset = Callable[["ChunkTask"], None]

# Chunks: about RENDER_CHUNKS per video, from RENDER_CHUNK_MIN to RENDER_CHUNK_MAX frames. From the
# frame count only (never the worker count), so the output does not depend on the workers. Each
# chunk starts an encoder (an IDR frame) and a fresh hook state, and costs a seek: not too small.
RENDER_CHUNKS = 8
RENDER_CHUNK_MIN = 60
RENDER_CHUNK_MAX = 600


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
    chunks: int = 0


@dataclass(frozen=True)
class RenderJob:
    source: Path
    target: Path  # written as it is; the caller renames it into place
    info: VideoInfo
    schedule: FaceSchedule
    faces: FaceOptions
    video: VideoOutputOptions
    strip_metadata: bool
    hook: FrameHook | None = None  # for chunks rendered in this process (workers build their own)
    hook_reset: HookReset | None = None  # called at every chunk's start
    chunk_frames: int | None = None  # frames per chunk; None: planned from the frame count


@dataclass(frozen=True)
class ChunkTask:
    """One chunk to render: what a worker process needs (picklable) besides the video's frame
    table, which goes beside it (the same for all the video's chunks: sent once on Ray)."""

    source: Path
    segment: Path  # the video-only MP4 written
    first: int  # 1-based, inclusive
    last: int
    faces: list[tuple[list[FaceRegion], list[int]]]  # per frame first..last: regions, track numbers
    options: FaceOptions
    video: VideoOutputOptions
    # The chunk's faceless person keys -> the file's (vigil/anonymize/person_keys.py), so that a
    # person without a face keeps one clothes colour across chunks; empty: the chunk's own.
    person_keys: dict[int, int] = field(default_factory=dict)
    # FFmpeg decoding threads: 0 (auto) when this process renders alone; 1 in pool workers, which
    # fill the cores already (frame threads cost 0.6 ms more CPU a 720p frame here).
    decode_threads: int = 0


@dataclass(frozen=True)
class ChunkResult:
    first: int
    last: int
    frames: int
    frames_with_faces: int
    boxes: int
    max_faces: int
    # (pts, dts) of every packet in the segment, in decoding order, in the input's time base:
    # the exact values (an MP4 segment's edit list would round its start to the movie timescale).
    timestamps: list[tuple[int, int]]


class ChunkRunner(Protocol):
    """Renders a video's chunks (in this process or in workers), `info` being its frame table;
    `on_frames(n)`: n more frames done."""

    def __call__(
        self,
        tasks: Sequence[ChunkTask],
        info: VideoInfo,
        on_frames: Callable[[int], None],
        cancel: threading.Event | None,
    ) -> list[ChunkResult]: ...


def plan_render(total_frames: int, chunk_frames: int | None = None) -> list[FrameRange]:
    """1-based inclusive frame ranges of a video's chunks, from its frame count only."""
    size = chunk_frames or min(
        RENDER_CHUNK_MAX, max(RENDER_CHUNK_MIN, math.ceil(total_frames / RENDER_CHUNKS))
    )
    return plan_chunks(total_frames, 1, chunk_size=size)


def render(
    job: RenderJob,
    on_frame: Callable[[int], None] | None = None,
    cancel: threading.Event | None = None,
    runner: ChunkRunner | None = None,
) -> RenderStats:
    """Writes the anonymised video to `job.target`: its chunks rendered by `runner` (default: in
    this process with `job.hook`), then joined with the audio. `on_frame(done)` gets the frames
    done so far. Raises SourceUnsupported when the input cannot be decoded, InputError when a frame
    is missing, RenderCancelled when `cancel` is set."""
    from vigil.anonymize.mux import mux_segments  # mux imports this module's types

    started = time.perf_counter()
    run = runner or in_process(job.hook, job.hook_reset)
    done = 0

    def frames_done(count: int) -> None:
        nonlocal done
        done += count
        if on_frame is not None:
            on_frame(done)

    ranges = plan_render(job.info.total_frames, job.chunk_frames)
    with work_dir("vigil-render-") as work:
        tasks = [
            ChunkTask(
                job.source,
                Path(work) / f"chunk_{first:08d}.mp4",
                first,
                last,
                [(job.schedule.regions(n), job.schedule.track_numbers(n)) for n in range(first, last + 1)],
                job.faces,
                job.video,
            )
            for first, last in ranges
        ]
        results = run(tasks, job.info, frames_done, cancel)
        if cancel is not None and cancel.is_set():
            raise RenderCancelled
        stats = RenderStats(chunks=len(results))
        for result in results:
            stats.frames += result.frames
            stats.frames_with_faces += result.frames_with_faces
            stats.boxes += result.boxes
            stats.max_faces = max(stats.max_faces, result.max_faces)
        try:
            mux_segments(
                job, [(task.segment, result) for task, result in zip(tasks, results, strict=True)], stats
            )
        except av.error.FFmpegError as exc:
            raise SourceUnsupported(f"{job.source}: cannot copy the audio ({exc}); corrupt file?") from exc
    stats.seconds = time.perf_counter() - started
    return stats


def in_process(hook: FrameHook | None, reset: HookReset | None = None) -> ChunkRunner:
    """A runner rendering the chunks one after the other in this process."""

    def run(
        tasks: Sequence[ChunkTask],
        info: VideoInfo,
        on_frames: Callable[[int], None],
        cancel: threading.Event | None,
    ) -> list[ChunkResult]:
        results = []
        for task in tasks:
            if cancel is not None and cancel.is_set():
                break
            results.append(render_chunk(task, info, hook, reset, lambda: on_frames(1), cancel))
        return results

    return run


def render_chunk(
    task: ChunkTask,
    info: VideoInfo,
    hook: FrameHook | None,
    reset: HookReset | None,
    on_frame: Callable[[], None] | None = None,
    cancel: Any = None,  # threading.Event or multiprocessing.Event: `is_set()`
) -> ChunkResult:
    """Renders frames `task.first..task.last` into `task.segment` (video only); `info`: the
    video's frame table. Raises RenderCancelled, InputError (a frame that cannot be decoded),
    SourceUnsupported."""
    if reset is not None:
        reset(task)  # no state from frames before this chunk: the same in any process
    counts = [0, 0, 0]  # frames with faces, boxes, max faces
    timestamps: list[tuple[int, int]] = []
    frames = 0
    try:
        with av.open(str(task.source)) as source, av.open(str(task.segment), "w", format="mp4") as target:
            vin = source.streams.video[0]
            vout = target.add_stream("libx264", rate=_rate(vin, info))
            vout.width, vout.height = info.width, info.height
            vout.pix_fmt = "yuv420p"
            vout.time_base = info.time_base  # the input's (the probe's is never None)
            vout.codec_context.time_base = info.time_base
            vout.options = {"crf": str(task.video.crf), "preset": task.video.preset}
            keep_colour_tags(vin.codec_context, vout.codec_context)
            # One encoder thread whatever the worker count: x264's threads change the bytes (and
            # the workers fill the cores already; 2 threads each cost more system time here).
            vout.codec_context.thread_count = 1

            def write(frame: Any) -> None:
                for packet in vout.encode(frame):
                    if packet.pts is None or packet.dts is None:
                        raise SourceUnsupported(f"{task.source}: the encoder gave a packet without time")
                    timestamps.append((packet.pts, packet.dts))
                    target.mux(packet)

            to_bgr = BgrReader()
            for number, frame, faces, tracks in chunk_frames(task, info, cancel):
                write(_cover(frame, faces, tracks, number, task.options, hook, counts, to_bgr))
                frames += 1
                if on_frame is not None:
                    on_frame()
            write(None)
    except av.error.FFmpegError as exc:
        reason = media_reason(exc)
        raise SourceUnsupported(f"{task.source}: cannot decode the video ({reason}); corrupt file?") from exc
    return ChunkResult(task.first, task.last, frames, counts[0], counts[1], counts[2], timestamps)


class RgbScaler:
    """Decoded frames scaled down to a given size as RGB arrays, in one swscale call through one
    reused context, single-threaded (as `BgrReader`): the persons' segmentation needs a small
    copy only. AREA averages the pixels under each output pixel (no aliasing at 2.5x down); full
    horizontal chroma interpolation keeps the colours of a full-size conversion scaled down (the
    people's masks matched it better than without: issue 17 measures in anonymize_persons.md)."""

    _INTERPOLATION = Interpolation.AREA | Interpolation.FULL_CHR_H_INT

    def __init__(self) -> None:
        self._scaler = VideoReformatter()

    def __call__(self, frame: Any, size: tuple[int, int]) -> Image:
        width, height = size
        scaled = self._scaler.reformat(
            frame, width=width, height=height, format="rgb24", interpolation=self._INTERPOLATION, threads=1
        )
        return np.asarray(scaled.to_ndarray())


class ChunkFrame(NamedTuple):
    number: int  # 1-based frame number in the file
    frame: Any  # av.VideoFrame
    faces: list[FaceRegion]  # the regions to cover on it
    tracks: list[int]  # their track numbers, aligned with `faces`


def chunk_frames(task: ChunkTask, info: VideoInfo, cancel: Any = None) -> Iterator[ChunkFrame]:
    """A chunk's frames in order, with their faces (for the render and the follow pass, which must
    see the same frames); `info`: the video's frame table. Raises RenderCancelled when `cancel`
    (an Event) is set, InputError on a frame that cannot be decoded."""
    reader = FrameReader(info, task.first, task.last, threads=task.decode_threads)
    for number, frame in reader.frames():
        if cancel is not None and cancel.is_set():
            raise RenderCancelled
        if frame is None:
            raise InputError(f"{task.source}: frame {number} cannot be decoded (corrupt file?)")
        faces, tracks = task.faces[number - task.first]
        yield ChunkFrame(number, frame, faces, tracks)


def _cover(
    frame: Any,
    faces: list[FaceRegion],
    tracks: list[int],
    number: int,
    options: FaceOptions,
    hook: FrameHook | None,
    counts: list[int],
    to_bgr: BgrReader,
) -> Any:
    if faces:
        counts[0] += 1
        counts[1] += len(faces)
        counts[2] = max(counts[2], len(faces))
    if faces or hook is not None:
        image = to_bgr(frame)
        before = image.copy() if pasteable(frame) else None
        if hook is not None:
            image = hook(image, faces, tracks, number)
        cover_faces(image, faces, options.style, options.pad)
        frame = covered_frame(frame, before, image)
    frame.pict_type = av.video.frame.PictureType.NONE  # let the encoder choose (not the input's)
    return frame


def _rate(stream: Any, info: VideoInfo) -> Fraction:
    rate = stream.average_rate or stream.guessed_rate
    return Fraction(rate) if rate else Fraction(info.fps).limit_denominator(1001)


def rotation_of(path: Path) -> int:
    """The display rotation of the first frame (its display matrix), in degrees."""
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                return round(getattr(frame, "rotation", 0) or 0)
    except av.error.FFmpegError:
        return 0
    return 0
