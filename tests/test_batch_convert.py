"""The worker's frame conversions (one reused scaler per conversion, one thread) give exactly the
pixels of PyAV's `frame.to_ndarray` (a new scaler per call), at full size and downscaled."""

from __future__ import annotations

import av
import numpy as np
import pytest

from tests.batch_util import batch_settings, clip
from vigil.batch.process import FaceFollower
from vigil.batch.video import probe_video
from vigil.batch.worker import worker_models


@pytest.mark.parametrize("name", ["hamilton_640x360.mp4", "crowd_1080p.mp4"])
def test_reused_scalers_give_the_same_pixels(name: str) -> None:
    info = probe_video(clip(name))
    settings = batch_settings()
    follower = FaceFollower(worker_models().engine(settings), settings, info)
    sizes = {follower.lm_size, follower.det_size}
    with av.open(str(info.path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index == 12:
                break
            for size in sizes:
                for fmt in ("rgb24", "bgr24"):
                    ours = follower._image(frame, size, fmt)
                    theirs = frame.to_ndarray(width=size[0], height=size[1], format=fmt, interpolation="AREA")
                    if size == (info.width, info.height):
                        theirs = frame.to_ndarray(format=fmt)
                    assert ours.shape == (size[1], size[0], 3)
                    assert np.array_equal(ours, theirs)
