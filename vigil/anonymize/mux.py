"""The output file: the chunks' video segments joined in frame order, and the input's audio
packets copied as they are (never decoded), interleaved by time into one MP4.

Every segment was encoded by its own libx264 with the same options (the same SPS/PPS, checked), so
their packets form one H.264 stream: each segment starts with an IDR frame. The timestamps are the
ones the encoders gave, in the input's time base (`ChunkResult.timestamps`). With B-frames a
segment's first decoding timestamps lie before its first frame's presentation time; where that
would not stay above the previous segment's last (variable frame rate), they are raised to the
next tick (never past the packet's presentation time), as the MP4 muxer needs increasing dts."""

from __future__ import annotations

import heapq
import logging
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from vigil.anonymize.metadata import kept_container_tags, kept_stream_tags, removed_tags
from vigil.anonymize.render import ChunkResult, RenderJob, RenderStats, rotation_of
from vigil.errors import VigilError

__all__ = ["SegmentError", "mux_segments"]

log = logging.getLogger(__name__)


class SegmentError(VigilError):
    """The rendered segments cannot be joined (a bug, not the input's fault)."""


def mux_segments(job: RenderJob, segments: Sequence[tuple[Path, ChunkResult]], stats: RenderStats) -> None:
    """Writes `job.target` from the segments (in frame order) and the input's audio; fills the
    stats' rotation, audio and removed-metadata fields."""
    stats.rotation = rotation_of(job.source)
    with av.open(str(job.source)) as source, av.open(str(job.target), "w", format="mp4") as target:
        vin = source.streams.video[0]
        ain = source.streams.audio[0] if source.streams.audio else None
        target.metadata.update(kept_container_tags(source.metadata, job.strip_metadata))
        with av.open(str(segments[0][0])) as first:
            extradata = first.streams.video[0].codec_context.extradata
            vout = target.add_stream_from_template(first.streams.video[0])
        vout.time_base = job.info.time_base
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

        streams: list[Iterator[tuple[Fraction, int, Any]]] = [
            _video_packets(segments, extradata, job.info.time_base, vout)
        ]
        if ain is not None and aout is not None:
            streams.append(_audio_packets(source, ain, aout))
        # By decoding time, so the muxer's interleaving queue stays short (memory flat with length).
        for _, kind, packet in heapq.merge(*streams, key=lambda item: (item[0], item[1])):
            target.mux(packet)
            if kind == 1:
                stats.audio_packets += 1


def _video_packets(
    segments: Sequence[tuple[Path, ChunkResult]], extradata: bytes | None, time_base: Fraction, vout: Any
) -> Iterator[tuple[Fraction, int, Any]]:
    last_dts: int | None = None
    for path, result in segments:
        with av.open(str(path)) as segment:
            stream = segment.streams.video[0]
            if stream.codec_context.extradata != extradata:
                raise SegmentError(f"{path.name}: encoded with other parameters than the first segment")
            count = 0
            for packet in segment.demux(stream):
                if not packet.size:
                    continue
                if count >= len(result.timestamps):
                    raise SegmentError(f"{path.name}: more packets than the encoder gave")
                pts, dts = result.timestamps[count]
                count += 1
                if last_dts is not None and dts <= last_dts:
                    if last_dts + 1 > pts:
                        raise SegmentError(f"{path.name}: no room for an increasing dts at pts {pts}")
                    log.debug(
                        "%s: dts %d raised to %d at the join (pts %d)", path.name, dts, last_dts + 1, pts
                    )
                    dts = last_dts + 1
                last_dts = dts
                packet.stream = vout
                packet.time_base = time_base
                packet.pts, packet.dts = pts, dts
                yield dts * time_base, 0, packet
            if count != len(result.timestamps):
                raise SegmentError(
                    f"{path.name}: {count} packets where the encoder gave {len(result.timestamps)}"
                )


def _audio_packets(source: Any, ain: Any, aout: Any) -> Iterator[tuple[Fraction, int, Any]]:
    for packet in source.demux(ain):
        if packet.dts is None:  # the demuxer's flush packet
            continue
        when = packet.dts * packet.time_base
        packet.stream = aout
        yield when, 1, packet
