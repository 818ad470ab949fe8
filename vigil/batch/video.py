"""Frame-exact access to a video file for chunked processing (PyAV).

`probe_video` demuxes the video stream once without decoding (milliseconds per minute of video)
and records every frame's presentation timestamp and the keyframes. Frame N (1-based) is the
N-th timestamp in presentation order, so a worker can seek to the keyframe before its first
frame, decode forward and *verify* that it lands on exactly the frame it wants; when the seek
overshoots it falls back to the previous keyframe, and finally to the start of the file.

Frames before the wanted range are decoded with FFmpeg's `skip_frame=NONREF` (frames nothing
references are not decoded at all), which makes the pre-roll of a long GOP several times cheaper.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error
import numpy as np

from vigil.errors import SourceUnsupported, media_reason
from vigil.types import IntArray

log = logging.getLogger(__name__)

# Frames whose packets come this many frames (in presentation order) before the first wanted
# frame are decoded normally: B-frame reordering never reaches further back than this.
_REORDER_MARGIN = 16


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int
    height: int
    fps: float
    time_base: Fraction
    pts: IntArray  # presentation timestamps in `time_base` units, sorted; frame N = pts[N - 1]
    keyframes: IntArray  # sorted pts of keyframes
    expected_frames: int  # frame count in the container's index (0: unknown)
    packets: int  # video packets read, edit-list pre-roll included (compared with the index)

    @property
    def total_frames(self) -> int:
        """Frames that can be read (the frame table)."""
        return len(self.pts)

    @property
    def truncated_frames(self) -> int:
        """Frames the container's index lists past the last packet that can be read: a cut or
        half-copied file. Their entries are placeholders (seed 000's dense JSON)."""
        return max(0, self.expected_frames - self.packets) if self.expected_frames else 0

    @property
    def listed_frames(self) -> int:
        """Frames of the output: the readable ones, then the truncated ones."""
        return self.total_frames + self.truncated_frames

    def frame_of(self, pts: int) -> int | None:
        """1-based frame number of a timestamp, None when it is not a frame of the table."""
        index = int(np.searchsorted(self.pts, pts))
        return index + 1 if index < len(self.pts) and int(self.pts[index]) == pts else None


def probe_video(path: Path) -> VideoInfo:
    """Frame table of `path`; SourceUnsupported when it cannot be read, has no video stream or no
    frame. A truncated file (fewer packets than its index announces) is readable up to its cut:
    `info.truncated_frames` says how many frames are lost."""
    if not path.is_file():
        raise SourceUnsupported(f"{path}: no such video file")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise SourceUnsupported(f"{path}: no video stream in this file")
            stream = container.streams.video[0]
            pts_list, keys, packets = _scan_packets(container, stream)
            info = VideoInfo(
                path=path,
                width=stream.codec_context.width,
                height=stream.codec_context.height,
                fps=_fps(stream, pts_list),
                time_base=stream.time_base or Fraction(1, 90000),
                pts=np.array(sorted(pts_list), dtype=np.int64),
                keyframes=np.array(sorted(keys), dtype=np.int64),
                expected_frames=int(stream.frames or 0),
                packets=packets,
            )
    except av.error.FFmpegError as exc:
        raise SourceUnsupported(
            f"{path}: cannot read the video ({media_reason(exc)}); corrupt or unsupported file?"
        ) from exc
    if info.total_frames == 0 or info.width <= 0 or info.height <= 0:
        raise SourceUnsupported(f"{path}: no decodable video frame (corrupt or empty file?)")
    if info.truncated_frames:
        log.warning(
            "%s: truncated: its index lists %d frames but only %d can be read",
            path.name,
            info.expected_frames,
            info.packets,
        )
    if len(np.unique(info.pts)) != info.total_frames:
        raise SourceUnsupported(
            f"{path}: frames without distinct timestamps; remux the file (ffmpeg -c copy)"
        )
    return info


def _scan_packets(container: Any, stream: Any) -> tuple[list[int], list[int], int]:
    pts_list: list[int] = []
    keys: list[int] = []
    next_pts = 0
    packets = 0
    for packet in container.demux(stream):
        if packet.size == 0:  # the flush packet at the end
            continue
        packets += 1
        pts = packet.pts if packet.pts is not None else packet.dts
        if pts is None:  # raw streams without timestamps: number packets in order
            pts = next_pts
        next_pts = pts + 1
        if packet.is_keyframe:
            keys.append(int(pts))
        if not packet.is_discard:  # edit-list pre-roll is decoded but never shown
            pts_list.append(int(pts))
    return pts_list, keys, packets


def _fps(stream: Any, pts: list[int]) -> float:
    rate = stream.average_rate or stream.guessed_rate
    if rate:
        return float(rate)
    if len(pts) > 1 and stream.time_base:
        span = (max(pts) - min(pts)) * stream.time_base
        return float((len(pts) - 1) / span) if span else 25.0
    return 25.0


@dataclass
class DecodeStats:
    missing: list[int]  # frame numbers that could not be decoded
    seek_fallbacks: int = 0
    preroll_frames: int = 0


class FrameReader:
    """Decodes frames `first..last` (1-based, inclusive) of a probed video, yielding
    `(frame_number, av.VideoFrame | None)` for every number in order; None = undecodable."""

    def __init__(self, info: VideoInfo, first: int, last: int, threads: int = 1) -> None:
        if not 1 <= first <= last <= info.total_frames:
            raise ValueError(f"frame range {first}..{last} outside 1..{info.total_frames}")
        self.info, self.first, self.last, self.threads = info, first, last, threads
        self.stats = DecodeStats(missing=[])

    def frames(self) -> Iterator[tuple[int, Any]]:
        expected = self.first
        # Seek candidates: keyframes at or before the first frame, latest first, then the start.
        target = int(self.info.pts[self.first - 1])
        keys = self.info.keyframes
        before = keys[: bisect.bisect_right(keys.tolist(), target)][::-1][:2]
        candidates: list[int | None] = [int(k) for k in before]
        candidates.append(None)  # decode from the start, no seek
        for attempt, seek_pts in enumerate(candidates):
            if attempt:
                self.stats.seek_fallbacks += 1
                log.warning(
                    "%s: seek for frame %d overshot; retrying from an earlier position",
                    self.info.path.name,
                    expected,
                )
            landed = yield from self._decode_from(seek_pts, expected)
            if landed:
                return
        # Even decoding from the start never produced the first frame: everything is missing.
        for number in range(expected, self.last + 1):
            self._missing(number)
            yield number, None

    def _decode_from(self, seek_pts: int | None, first: int) -> Generator[tuple[int, Any], None, bool]:
        """Generator returning False (nothing yielded) when the decode starts after `first`."""
        info = self.info
        warm_pts = int(info.pts[max(0, first - 1 - _REORDER_MARGIN)])
        expected = first
        with av.open(str(info.path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            stream.thread_count = self.threads
            if seek_pts is not None and first > 1:
                container.seek(seek_pts, stream=stream, backward=True, any_frame=False)
            context = stream.codec_context
            skipping = first > 1 + _REORDER_MARGIN
            if skipping:
                context.skip_frame = "NONREF"
            for frame in self._decoded(container, stream, warm_pts, context, skipping):
                number = info.frame_of(frame.pts) if frame.pts is not None else None
                if number is None or number < expected:
                    self.stats.preroll_frames += 1
                    continue
                if expected == first and number > first:
                    return False  # landed after the wanted frame: not an exact seek
                while expected < number:  # frames the decoder could not produce
                    self._missing(expected)
                    yield expected, None
                    expected += 1
                yield number, frame
                expected = number + 1
                if expected > self.last:
                    return True
        if expected == first:
            return False
        for number in range(expected, self.last + 1):
            self._missing(number)
            yield number, None
        return True

    def _decoded(
        self, container: Any, stream: Any, warm_pts: int, context: Any, skipping: bool
    ) -> Iterator[Any]:
        for packet in container.demux(stream):
            if skipping and packet.pts is not None and packet.pts >= warm_pts:
                context.skip_frame = "DEFAULT"
                skipping = False
            try:
                yield from stream.decode(packet)
            except av.error.InvalidDataError as exc:
                log.warning("%s: corrupt packet skipped: %s", self.info.path.name, exc)

    def _missing(self, number: int) -> None:
        self.stats.missing.append(number)
        log.warning("%s: frame %d could not be decoded; its entry stays empty", self.info.path.name, number)
