"""The covered picture handed to the encoder with only the covered pixels changed.

Covering works on a BGR copy of each decoded frame. Handing that copy to the encoder made
swscale convert every pixel back to YUV (3.4 ms a 720p frame), and the round trip moved the
whole background: on hamilton (tagged BT.709) the output's luma was 3 levels darker on average,
because the frame was read with its own matrix and written with swscale's default BT.601.

Here the picture is read with BT.601 (`BgrReader`), and the pixels the covering changed are
converted back with the same matrix (OpenCV's I420, within one level of swscale's) and pasted
into a copy of the decoded planes: everything else stays bit-exact, in about 2 ms. Frames that
are not 4:2:0 8-bit with even sizes go the old way (the encoder converts the BGR picture)."""

from __future__ import annotations

from typing import Any

import av
import cv2
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, VideoReformatter

from vigil.types import Image

_PASTEABLE = "yuv420p"


class BgrReader:
    """Decoded frames as BGR arrays, read with BT.601 whatever the frame's own matrix (the matrix
    `covered_frame` writes with), through one reused swscale context, single-threaded (the
    workers fill the cores already): `frame.to_ndarray(format="bgr24")` would set up a new
    context and thread pool for every frame."""

    def __init__(self) -> None:
        self._scaler = VideoReformatter()

    def __call__(self, frame: Any) -> Image:
        converted = self._scaler.reformat(
            frame,
            format="bgr24",
            src_colorspace=Colorspace.ITU601,
            dst_colorspace=Colorspace.ITU601,
            threads=1,
        )
        return np.asarray(converted.to_ndarray())


def pasteable(frame: Any) -> bool:
    """Whether `covered_frame` can paste into this frame's planes."""
    return bool(frame.format.name == _PASTEABLE and frame.width % 2 == 0 and frame.height % 2 == 0)


def covered_frame(frame: Any, before: Image | None, after: Image) -> Any:
    """A frame for the encoder showing `after` (the BGR picture once covered); `before`: the same
    picture as `BgrReader` read it, or None when `frame` is not `pasteable` (then the encoder
    converts `after` itself). Timestamps are `frame`'s."""
    if before is None:
        out = av.VideoFrame.from_ndarray(after, format="bgr24")
    else:
        changed = _changed_mask(before, after)
        if changed is None:
            return frame  # nothing covered here (a persons pass that found nobody): as decoded
        out = av.VideoFrame.from_ndarray(_pasted(frame.to_ndarray(), changed, after), format=_PASTEABLE)
    out.pts, out.time_base = frame.pts, frame.time_base
    return out


def _changed_mask(before: Image, after: Image) -> Image | None:
    """255 where `after` differs from `before`, else 0; None when nothing changed. The
    difference's grey level: any change of 1 in G, 2 in R or 5 in B counts (a smaller one keeps
    the decoded pixel, a shade away from the intended one); 0.25 ms against 2-4 ms for an exact
    per-channel maximum."""
    changed = cv2.cvtColor(cv2.absdiff(before, after), cv2.COLOR_BGR2GRAY)
    mask: Image = cv2.threshold(changed, 0, 255, cv2.THRESH_BINARY)[1]
    return mask if cv2.countNonZero(mask) else None


def _pasted(planes: Image, luma_mask: Image, after: Image) -> Image:
    """`planes` (I420 layout: Y rows, then U, then V, as PyAV and OpenCV both lay them out) with the
    pixels under `luma_mask` taken from `after`; a chroma sample is taken when any of the 2x2
    pixels it covers changed."""
    height, width = after.shape[:2]
    new = cv2.cvtColor(after, cv2.COLOR_BGR2YUV_I420)
    cv2.copyTo(new[:height], luma_mask, planes[:height])
    # INTER_AREA averages each 2x2 block of the 0/255 mask: non-zero when any pixel changed.
    chroma_mask = cv2.resize(luma_mask, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
    flat_planes, flat_new = planes.reshape(-1), new.reshape(-1)  # views
    luma, chroma = height * width, (height // 2) * (width // 2)
    for start in (luma, luma + chroma):
        samples = slice(start, start + chroma)
        target = flat_planes[samples].reshape(height // 2, width // 2)  # a view: pasted in place
        cv2.copyTo(flat_new[samples].reshape(height // 2, width // 2), chroma_mask, target)
    return planes


def keep_colour_tags(source: Any, target: Any) -> None:
    """The output stream's colour description (matrix, primaries, transfer, range) set to the
    input's (`source`, `target`: video codec contexts): the pixels are the input's, pasted, so a
    player must read them as it read the input (an untagged 360p file is shown with BT.601, which
    shifted hamilton's BT.709 colours). Inputs that are not yuv420p reach the encoder converted to
    limited range."""
    target.colorspace = source.colorspace
    target.color_primaries = source.color_primaries
    target.color_trc = source.color_trc
    limited = ColorRange.MPEG
    target.color_range = source.color_range if source.pix_fmt == _PASTEABLE else limited
