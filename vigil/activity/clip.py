"""`/api/save-clip`: the last N seconds of a camera's video and audio as an MP4, remuxed from the
packet ring (ring.py) without decoding or re-encoding (stream copy).

The clip's timeline starts at `end - N` (end: the newest video packet). Video is written from the
keyframe before that instant and every timestamp of both streams is shifted by the same amount,
so the part before `end - N` has negative times: MP4 keeps it behind an edit list, which players
(and FFmpeg) use to start at `end - N` exactly, decoding from the keyframe without showing it.
Audio and video keep the offsets they had in the source, which is what keeps them in sync.

Saving is two steps, the same for a camera running in the server and one running in a Ray actor
(vigil/cluster/actor.py): `render_live_clip` (or `render_clip`) writes the MP4 into memory where
the ring is, giving a `RenderedClip` (bytes and what they hold: small, frozen, picklable, so it
crosses Ray as the actor's answer); `publish_clip` writes it in the server to a 0600 temporary
beside its final name, then hard-links it there: a reader or a crash never sees half a clip.
Listing, deleting and pruning the saved clips: vigil/activity/clip_files.py."""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import io
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import av.error
import numpy as np

from vigil.activity.ring import BufferedPacket, ClipPackets, PacketRing, StreamTemplate
from vigil.errors import InvalidError, NotFoundError, UnavailableError
from vigil.private_files import make_private_dir

if TYPE_CHECKING:
    from vigil.activity.live import LiveActivity

__all__ = [
    "CLIP_NAME",
    "MAX_CLIP_SECONDS",
    "ClipNotFound",
    "ClipTooLong",
    "ClipUnavailable",
    "RenderedClip",
    "SavedClip",
    "adopt_clips",
    "adopt_named_folders",
    "camera_clip_folder",
    "clip_folder",
    "clip_path",
    "clips_root",
    "named_clip_folder",
    "publish_clip",
    "render_clip",
    "render_live_clip",
    "save_clip",
    "write_mp4",
]


log = logging.getLogger(__name__)

# A microphone's sound from `start` to `end` (wall clock) as 16 kHz mono float, or None without it.
MicrophoneSound = Callable[[float, float], np.ndarray | None]
MIC_RATE = 16000
MAX_CLIP_SECONDS = 120.0  # the most a save may ask for (activity.clip_buffer_s may keep less)
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
CLIP_NAME = re.compile(r"^[A-Za-z0-9._-]+\.mp4$")


class ClipUnavailable(UnavailableError):
    """Nothing to save yet (camera stopped, activity off, no packets buffered, a USB source)."""


class ClipTooLong(InvalidError):
    """More seconds asked for than the camera's ring keeps (`activity.clip_buffer_s`)."""


class ClipNotFound(NotFoundError):
    """No saved clip by that name."""


@dataclass(frozen=True)
class ClipFacts:
    """What a clip holds, rendered or saved."""

    seconds: float  # asked for
    duration_s: float  # of the file's timeline (less than asked when less was buffered)
    start: float | None  # wall clock of the clip's first instant, when known
    video_codec: str
    audio_codec: str | None  # None: the source has no audio stream
    video_packets: int
    audio_packets: int

    def facts(self) -> ClipFacts:
        return ClipFacts(*(getattr(self, f.name) for f in fields(ClipFacts)))


@dataclass(frozen=True, kw_only=True)
class SavedClip(ClipFacts):
    path: Path
    size: int  # bytes


def clips_root(data_dir: Path) -> Path:
    """`<data_dir>/clips`: every camera's clip folder is in it."""
    return data_dir / "clips"


def clip_folder(data_dir: Path, camera_id: int) -> Path:
    """`<data_dir>/clips/id=<camera id>`: the camera's own folder, named by its row id, which a
    rename keeps (a name-keyed folder lost a renamed camera's clips). `=` never occurs in the
    folders named after cameras before (`named_clip_folder`), so the two kinds never meet."""
    return clips_root(data_dir) / f"id={int(camera_id)}"


def named_clip_folder(data_dir: Path, camera: str) -> Path:
    """Where clips were kept before they were kept by camera id: `<data_dir>/clips/<camera>`. A
    name that is not filename-safe as it is gets a short hash of the exact name after its safe
    form ("front door" -> `front_door-<8 hex>`), so two cameras never shared a folder."""
    safe = _SAFE.sub("_", camera).strip("._") or "camera"
    if safe != camera:
        safe = f"{safe}-{hashlib.sha256(camera.encode()).hexdigest()[:8]}"
    return clips_root(data_dir) / safe


def camera_clip_folder(data_dir: Path, camera_id: int, camera: str) -> Path:
    """The camera's folder (`clip_folder`), with the clips its name's folder still holds from
    before clips were kept by id moved into it first (`adopt_clips`)."""
    folder = clip_folder(data_dir, camera_id)
    adopt_clips(named_clip_folder(data_dir, camera), folder)
    return folder


def adopt_named_folders(data_dir: Path, cameras: Iterable[tuple[int, str]]) -> int:
    """At the server's start, before any rename: each listed camera (id, name) takes the clips its
    name's folder holds from before clips were kept by id. Returns how many moved; a folder that
    cannot be moved is logged and left (its clips stay where they are, nothing is lost)."""
    moved = 0
    for camera_id, name in cameras:
        try:
            moved += len(adopt_clips(named_clip_folder(data_dir, name), clip_folder(data_dir, camera_id)))
        except OSError as exc:
            log.warning("the clips of camera %s could not be moved to its folder: %s", name, exc)
    if moved:
        log.info("%d clip(s) moved from their camera's name folder to its id folder", moved)
    return moved


def adopt_clips(source: Path, target: Path) -> list[Path]:
    """Moves the clips of `source` into `target` and removes `source` once empty; returns their
    new paths. Never loses a clip: a whole folder is renamed when `target` does not exist yet
    (atomic), else each clip is hard-linked into `target` (under a free name: `-2`, `-3`...)
    before its old name is removed, so a crash or a concurrent call leaves a clip under one name
    or both, never none. Nothing to do (no such folder: the usual case) costs one stat."""
    if not source.is_dir() or source.is_symlink():
        return []
    try:
        make_private_dir(target.parent)
        os.rename(source, target)  # fails when target exists (and holds anything)
        return [target / p.name for p in _clips_in(target)]
    except FileNotFoundError:
        return []  # adopted meanwhile by another request
    except OSError:
        pass  # target exists: merge
    make_private_dir(target)
    moved = [path for clip in _clips_in(source) if (path := _move_clip(clip, target)) is not None]
    with contextlib.suppress(OSError):  # not empty: a temporary of a save in progress stays
        source.rmdir()
    return moved


def _clips_in(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if CLIP_NAME.match(p.name) and not p.name.startswith("."))
    except OSError:
        return []


def _move_clip(clip: Path, target: Path) -> Path | None:
    """`clip` linked into `target`, then unlinked; None when it went meanwhile."""
    base, n = clip.stem, 1
    try:
        while True:
            path = target / (clip.name if n == 1 else f"{base}-{n}.mp4")
            try:
                os.link(clip, path, follow_symlinks=False)
                break
            except FileExistsError:
                if path.samefile(clip):
                    break  # linked by an earlier, interrupted move
                n += 1
        clip.unlink(missing_ok=True)
    except FileNotFoundError:
        return None  # moved or deleted meanwhile
    except OSError as exc:  # it stays where it is, listed again once this can work
        log.warning("clip %s could not be moved to %s: %s", clip, target, exc)
        return None
    return path


def clip_path(folder: Path, name: str) -> Path:
    """A saved clip's path in a camera's folder; ClipNotFound for a name that is not one (no path
    tricks)."""
    if not CLIP_NAME.match(name) or name.startswith("."):
        raise ClipNotFound(f"no clip named {name!r}")
    path = folder / name
    if not path.is_file():
        raise ClipNotFound(f"no clip named {name!r} for this camera")
    return path


@dataclass(frozen=True, kw_only=True)
class RenderedClip(ClipFacts):
    """A clip written into memory where its camera's ring is (this process or a camera actor),
    not yet saved: what `publish_clip` needs, and what a camera actor answers through Ray (the
    stream's bitrate times the duration: 4.6 Mbit/s 720p, about 70 MB for 120 s)."""

    data: bytes = field(repr=False)  # the MP4 file


def render_live_clip(activity: LiveActivity | None, camera: str, seconds: float) -> RenderedClip:
    """The last `seconds` of a running camera's activity analysis (None: stopped or off) as an MP4
    in memory, with its microphone's sound when its activity hears one. Runs where the camera
    runs: in the server, or in the camera's actor on a cluster node."""
    if activity is None:
        raise ClipUnavailable(f"camera {camera} is not running with activity analysis on")
    ring = activity.clips
    if ring is None:
        raise ClipUnavailable("clips are off (activity.clip_buffer_s: 0)")
    if seconds > ring.seconds:
        raise ClipTooLong(f"at most {ring.seconds:g} s are kept (activity.clip_buffer_s)")
    return render_clip(ring, seconds, camera, activity.clip_sound)


def render_clip(
    ring: PacketRing, seconds: float, camera: str, microphone: MicrophoneSound | None = None
) -> RenderedClip:
    """The last `seconds` of `ring` as an MP4 in memory; the sound is `microphone`'s when given
    (the camera's activity hears a microphone), else the stream's."""
    packets = ring.take()
    if ring.error is not None:
        raise ClipUnavailable(f"camera {camera}: clips are off ({ring.error})")
    if packets is None:
        raise ClipUnavailable(f"camera {camera}: no video buffered yet (waiting for a keyframe)")
    handle = io.BytesIO()
    try:
        clip = write_mp4(packets, seconds, handle, microphone)
    except av.error.FFmpegError as exc:
        raise ClipUnavailable(f"camera {camera}: the clip cannot be written: {exc.strerror}") from exc
    wall = None if packets.wall_offset is None else clip.start + packets.wall_offset
    facts = ClipFacts(
        seconds,
        clip.duration_s,
        wall,
        clip.video_codec,
        clip.audio_codec,
        clip.video_packets,
        clip.audio_packets,
    )
    return RenderedClip(**vars(facts), data=handle.getvalue())


def publish_clip(clip: RenderedClip, folder: Path, camera: str) -> SavedClip:
    """Saves a rendered clip to `folder` (created 0700) under a new name, atomically (0600)."""
    make_private_dir(folder)
    stamp = datetime.fromtimestamp(clip.start if clip.start is not None else time.time(), UTC)
    base = f"{_SAFE.sub('_', camera).strip('._') or 'camera'}_{stamp:%Y%m%dT%H%M%S}Z_{clip.seconds:g}s"
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".", suffix=".mp4.part")  # created 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(clip.data)
        path = _publish(Path(temporary), folder, base)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return SavedClip(**vars(clip.facts()), path=path, size=len(clip.data))


def save_clip(
    ring: PacketRing, seconds: float, folder: Path, camera: str, microphone: MicrophoneSound | None = None
) -> SavedClip:
    """`render_clip` then `publish_clip`: the last `seconds` of `ring` saved to `folder`."""
    return publish_clip(render_clip(ring, seconds, camera, microphone), folder, camera)


def _publish(temporary: Path, folder: Path, base: str) -> Path:
    """Gives the written file its name: a hard link never replaces an existing clip (two saves in
    the same second get `-2`, `-3`...); the caller removes the temporary name."""
    n = 1
    while True:
        path = folder / (f"{base}.mp4" if n == 1 else f"{base}-{n}.mp4")
        try:
            os.link(temporary, path)
            return path
        except FileExistsError:
            n += 1


@dataclass(frozen=True)
class _Written:
    start: float  # stream time of the clip's first instant
    duration_s: float
    video_codec: str
    audio_codec: str | None
    video_packets: int
    audio_packets: int


def write_mp4(
    packets: ClipPackets, seconds: float, handle: object, microphone: MicrophoneSound | None = None
) -> _Written:
    """Remuxes the last `seconds` of `packets` into MP4 on `handle` (a seekable binary file).
    With `microphone` (and the stream's wall clock known), the sound is the microphone's over the
    same wall-clock span, encoded as AAC, instead of the stream's own."""
    end = packets.end
    start = _first_frame_from(packets.video_packets, end - seconds)
    video = _from_keyframe(packets.video_packets, start)
    start = max(start, video[0].time)  # less was buffered than asked
    audio = _audio_between(packets.audio_packets, start, end)
    with av.open(handle, "w", format="mp4") as output:
        try:
            out_video = packets.video.add_to(output)
        except ValueError as exc:  # the muxer's own check: "mp4 format does not support …"
            raise ClipUnavailable(f"an MP4 cannot hold this camera's {packets.video.codec} video") from exc
        # Each stream in decode order, the two interleaved by time (what the muxer wants).
        items: list[tuple[float, int, av.Packet[Any]]] = [
            (_dts_time(p, packets.video), i, _shifted(p, packets.video, out_video, start))
            for i, p in enumerate(video)
        ]
        audio_codec: str | None = None
        audio_items: list[tuple[float, int, av.Packet[Any]]] = []
        if microphone is not None and packets.wall_offset is not None:
            sound = microphone(start + packets.wall_offset, end + packets.wall_offset)
            if sound is not None:
                audio_items = _aac(output, sound, MIC_RATE, 0.0, start)
                audio_codec = "aac"
        elif packets.audio is not None and audio:
            template = packets.audio
            try:
                out_audio = template.add_to(output)
            except ValueError:  # G.711 and other sound MP4 cannot carry: decoded, encoded as AAC
                pcm, rate, at = _decoded(template, audio, start)
                audio_items = _aac(output, pcm, rate, at, start)
                audio_codec = "aac"
            else:
                audio_items = [
                    (p.time, i, _shifted(p, template, out_audio, start)) for i, p in enumerate(audio)
                ]
                audio_codec = template.codec
        for _, _, packet in heapq.merge(items, audio_items, key=lambda o: o[0]):
            output.mux(packet)
    return _Written(start, end - start, packets.video.codec, audio_codec, len(video), len(audio_items))


def _aac(
    output: Any, pcm: np.ndarray, rate: int, at: float, start: float
) -> list[tuple[float, int, av.Packet[Any]]]:
    """Mono float PCM whose first sample is at clip time `at`, encoded as an AAC stream; each
    packet with its stream time (clip time + `start`), to be interleaved with the video's."""
    stream = output.add_stream("aac", rate=rate, layout="mono")
    stream.time_base = Fraction(1, rate)
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(pcm, np.float32)[None, :], format="flt", layout="mono"
    )
    frame.sample_rate, frame.pts, frame.time_base = rate, round(at * rate), Fraction(1, rate)
    out: list[tuple[float, int, av.Packet[Any]]] = []
    for packet in [*stream.encode(frame), *stream.encode(None)]:
        time_base = packet.time_base or stream.time_base
        out.append(
            (
                start + float((packet.dts if packet.dts is not None else packet.pts) * time_base),
                len(out),
                packet,
            )
        )
    return out


def _decoded(
    template: StreamTemplate, audio: list[BufferedPacket], start: float
) -> tuple[np.ndarray, int, float]:
    """The packets' sound as mono float PCM at its own rate, and the clip time of its first sample."""
    params = template.stream.codec_context
    decoder: Any = av.CodecContext.create(template.codec, "r")
    decoder.sample_rate, decoder.layout = params.sample_rate, params.layout
    if params.extradata:
        decoder.extradata = params.extradata
    rate = int(params.sample_rate)
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    chunks: list[np.ndarray] = []
    first: float | None = None
    for buffered in audio:
        packet = av.Packet(buffered.data)
        packet.pts, packet.dts, packet.time_base = buffered.pts, buffered.dts, template.time_base
        for frame in decoder.decode(packet):
            for chunk in resampler.resample(frame):
                if first is None:
                    first = float(chunk.time) if chunk.time is not None else buffered.time
                chunks.append(chunk.to_ndarray()[0])
    for chunk in resampler.resample(None):
        chunks.append(chunk.to_ndarray()[0])
    pcm = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    at = (first if first is not None else start) - start
    if at < 0:  # sound from before the clip's start is cut
        pcm, at = pcm[round(-at * rate) :], 0.0
    return pcm, rate, at


def _first_frame_from(video: tuple[BufferedPacket, ...], start: float) -> float:
    """The first frame at or after `start`: the clip starts on a frame, or FFmpeg's reader of
    the edit list would shift the picture by up to a frame against the sound."""
    later = [p.time for p in video if p.time >= start - 1e-6]
    return min(later) if later else start


def _from_keyframe(video: tuple[BufferedPacket, ...], start: float) -> list[BufferedPacket]:
    """Video packets from the last keyframe at or before `start` (the first one if none is)."""
    first = 0
    for i, packet in enumerate(video):
        if packet.keyframe and packet.time <= start + 1e-6:
            first = i
    return list(video[first:])


def _audio_between(audio: tuple[BufferedPacket, ...], start: float, end: float) -> list[BufferedPacket]:
    """Audio packets that overlap [start, end): from the one playing at `start`."""
    first = 0
    for i, packet in enumerate(audio):
        if packet.time <= start:
            first = i
    return [p for p in audio[first:] if p.time < end]


def _dts_time(packet: BufferedPacket, template: StreamTemplate) -> float:
    return float((packet.dts if packet.dts is not None else packet.pts) * template.time_base)


def _shifted(packet: BufferedPacket, template: StreamTemplate, stream: Any, start: float) -> av.Packet[Any]:
    """The packet with its times moved so that `start` is 0 in the clip. Sound is placed by its pts:
    some files give audio a dts behind its pts (the asleep clip: 0.73 s), and MP4 keeps no
    composition offset for audio (FFmpeg writes none), so its dts would become its time."""
    shift = round(start / template.time_base)
    out = av.Packet(packet.data)
    out.time_base = template.time_base
    out.pts = packet.pts - shift
    dts = packet.pts if template.kind == "audio" else packet.dts  # audio is never reordered
    out.dts = None if dts is None else dts - shift
    out.duration = packet.duration
    out.is_keyframe = packet.keyframe
    out.stream = stream
    return out
