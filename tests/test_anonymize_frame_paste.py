"""Covered pictures pasted into the decoded planes: only changed pixels move, chroma by 2x2 block."""

from __future__ import annotations

from fractions import Fraction

import av
import cv2
import numpy as np

from vigil.anonymize.frame_paste import BgrReader, covered_frame, pasteable


def _frame(width: int = 64, height: int = 48, pix_fmt: str = "yuv420p") -> av.VideoFrame:
    rng = np.random.default_rng(7)
    bgr = rng.integers(30, 220, (height, width, 3), dtype=np.uint8)
    frame = av.VideoFrame.from_ndarray(bgr, format="bgr24").reformat(format=pix_fmt)
    frame.pts, frame.time_base = 5, Fraction(1, 25)
    return frame


def test_only_the_changed_pixels_and_their_chroma_blocks_move() -> None:
    frame = _frame()
    before = BgrReader()(frame)
    after = before.copy()
    after[10:20, 21:31] = (0, 0, 255)  # starts on an odd column: its 2x2 blocks are half changed
    out = covered_frame(frame, before, after)
    assert out.format.name == "yuv420p" and out.pts == 5
    planes, given, expected = (
        out.to_ndarray(),
        frame.to_ndarray(),
        cv2.cvtColor(after, cv2.COLOR_BGR2YUV_I420),
    )
    luma_changed = np.zeros((48, 64), bool)
    luma_changed[10:20, 21:31] = True
    assert np.array_equal(planes[:48][luma_changed], expected[:48][luma_changed])
    assert np.array_equal(planes[:48][~luma_changed], given[:48][~luma_changed])  # bit-exact
    u, u_given, u_expected = (
        x[48:].reshape(-1)[: 24 * 32].reshape(24, 32) for x in (planes, given, expected)
    )
    chroma_changed = np.zeros((24, 32), bool)
    chroma_changed[5:10, 10:16] = True  # columns 21..30 touch blocks 10..15
    assert np.array_equal(u[chroma_changed], u_expected[chroma_changed])
    assert np.array_equal(u[~chroma_changed], u_given[~chroma_changed])


def test_an_untouched_picture_gives_the_decoded_planes_back() -> None:
    frame = _frame()
    picture = BgrReader()(frame)
    assert np.array_equal(covered_frame(frame, picture, picture.copy()).to_ndarray(), frame.to_ndarray())


def test_other_formats_and_odd_sizes_go_to_the_encoder_as_bgr() -> None:
    assert pasteable(_frame())
    assert not pasteable(_frame(pix_fmt="yuv444p"))
    assert not pasteable(av.VideoFrame(63, 48, "yuv420p"))
    picture = BgrReader()(_frame(pix_fmt="yuv444p"))
    out = covered_frame(_frame(pix_fmt="yuv444p"), None, picture)
    assert out.format.name == "bgr24" and np.array_equal(out.to_ndarray(), picture)


def test_the_reader_uses_bt601_whatever_the_frame_says() -> None:
    """The matrix covered pixels are written back with: a frame tagged BT.709 reads the same."""
    frame = _frame()
    plain = BgrReader()(frame)
    frame.colorspace = 1  # BT.709
    assert np.array_equal(BgrReader()(frame), plain)
    default = frame.to_ndarray(format="bgr24")  # PyAV's own reading follows the tag
    assert not np.array_equal(default, plain)


def _u_plane(planes: np.ndarray) -> np.ndarray:
    """The 24 x 32 U plane of a 64 x 48 I420 picture (it follows the 48 rows of Y)."""
    return planes[48:].reshape(-1)[: 24 * 32].reshape(24, 32)
