"""Each embedded face reaches the sinks with the analysed frame it was cut from (shared, not copied)
and its box in that frame, for alert snapshots; the frame is let go once every sink had it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vigil.config import CameraConfig, load_settings
from vigil.live.events import FaceEmbedded, PipelineEvent
from vigil.live.supervisor import Supervisor


class FrameChecker:
    """A sink that looks at each face's frame while it handles the event, as the watchlist does."""

    def __init__(self) -> None:
        self.seen: list[FaceEmbedded] = []
        self.frames: list[tuple[int, int]] = []
        self.crop_in_frame: list[bool] = []

    def handle(self, event: PipelineEvent) -> None:
        if not isinstance(event, FaceEmbedded):
            return
        assert event.source is not None and event.crop is not None and event.box is not None
        image, box = event.source.image, event.source.box
        self.frames.append(image.shape[:2])
        # The crop's box (crop coordinates) and the frame's box (frame coordinates) are the same
        # face: the crop's pixels are the frame's at the offset between them.
        offset = np.round(box[:2] - event.box[:2]).astype(int)
        x0, y0 = max(0, offset[0]), max(0, offset[1])
        h, w = event.crop.shape[:2]
        self.crop_in_frame.append(bool(np.array_equal(image[y0 : y0 + h, x0 : x0 + w], event.crop)))
        self.seen.append(event)

    def close(self) -> None:
        pass


def test_faces_reach_the_sinks_with_their_frame_which_is_let_go_after(
    hamilton: Path, models_dir: Path
) -> None:
    settings = load_settings(shared_dir=models_dir.parent, realtime=False, runtime={"embed_processes": 0})
    checker = FrameChecker()
    supervisor = Supervisor(settings, [CameraConfig(url=str(hamilton), name="stage")], [checker])
    supervisor.start()
    supervisor.wait(duration_s=120)
    assert len(checker.seen) >= 2
    assert set(checker.frames) == {(360, 640)}  # the whole analysed frame, not the crop
    assert all(checker.crop_in_frame)
    assert all(e.source is None for e in checker.seen)  # released once the sinks are done
