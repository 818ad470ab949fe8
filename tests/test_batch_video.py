"""Frame tables and frame-exact chunk decoding on the shared clips (H.264 and HEVC)."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from tests.batch_util import SHARED_CLIPS, clip
from vigil.batch.video import FrameReader, VideoInfo, probe_video
from vigil.errors import SourceUnsupported


def _reference(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="gray") for frame in container.decode(video=0)]


@pytest.mark.parametrize("name", SHARED_CLIPS)
def test_exact_frames_from_any_start(name: str) -> None:
    path = clip(name)
    info = probe_video(path)
    reference = _reference(path)
    assert info.total_frames == len(reference)  # edit-list pre-roll (no_face.mp4) excluded
    n = info.total_frames
    for first, last in ((1, 12), (n // 3, n // 3 + 9), (n - 4, n)):
        reader = FrameReader(info, first, last)
        got = list(reader.frames())
        assert [number for number, _ in got] == list(range(first, last + 1))
        for number, frame in got:
            assert frame is not None
            assert np.array_equal(frame.to_ndarray(format="gray"), reference[number - 1]), (name, number)
        assert reader.stats.missing == []


class _OvershootingReader(FrameReader):
    """Simulates a container whose seek lands after the wanted frame on the first attempt."""

    attempts: list[int | None]

    def _decode_from(self, seek_pts: int | None, first: int) -> Generator[tuple[int, Any], None, bool]:
        self.attempts.append(seek_pts)
        if len(self.attempts) == 1:
            return False
        return (yield from super()._decode_from(seek_pts, first))


def test_overshooting_seek_falls_back_to_an_earlier_keyframe() -> None:
    path = clip("hamilton_640x360.mp4")
    info = probe_video(path)
    first = 200
    reader = _OvershootingReader(info, first, first + 3)
    reader.attempts = []
    got = list(reader.frames())
    assert [number for number, _ in got] == [200, 201, 202, 203]
    assert reader.stats.seek_fallbacks == 1
    assert len(reader.attempts) == 2
    earlier = reader.attempts[1]
    assert earlier is None or (reader.attempts[0] is not None and earlier < reader.attempts[0])
    reference = _reference(path)
    assert np.array_equal(got[0][1].to_ndarray(format="gray"), reference[first - 1])


def test_unreadable_inputs_are_unsupported(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video" * 100)
    with pytest.raises(SourceUnsupported, match=r"garbage\.mp4"):
        probe_video(garbage)
    with pytest.raises(SourceUnsupported, match="no such video file"):
        probe_video(tmp_path / "missing.mp4")
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(clip("hamilton_640x360.mp4").read_bytes()[:250_000])
    with pytest.raises(SourceUnsupported):
        probe_video(truncated)


def test_frame_of_maps_timestamps_to_frame_numbers() -> None:
    info: VideoInfo = probe_video(clip("single_face.mp4"))
    assert info.frame_of(int(info.pts[0])) == 1
    assert info.frame_of(int(info.pts[-1])) == info.total_frames
    assert info.frame_of(int(info.pts[0]) + 1) is None
    with pytest.raises(ValueError, match="outside"):
        FrameReader(info, 0, 3)
