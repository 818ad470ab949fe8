"""Faces the live privacy mode leaves uncovered (issue 17 item 5), per clip.

Replays a clip as the live pipeline sees it: every decoded frame through the cut detector, 5 fps
analysed by the live detector (YuNet, score 0.6) and tracker (ByteTrack, tracks ended at cuts).
On each analysed frame, two other detectors (BlazeFace full range, YuNet at 0.3) give reference
faces; a reference face whose centre falls outside every covered (padded) region is uncovered.
Compared: covering only the tracked boxes, and `HeldFaces` (every detector face) with several
`hold_s`. A reference detector's false faces count as uncovered in every column alike.

    python -m bench.live_privacy ../shared/media/video/hamilton_640x360.mp4 [...]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2

from vigil.anonymize.live_privacy import HeldFaces
from vigil.anonymize.styles import FaceRegion, padded_box
from vigil.detect import create_detector
from vigil.detect.base import FaceDetector
from vigil.detect.blazeface import BlazeFaceConfig
from vigil.detect.yunet import YuNetConfig
from vigil.live.cuts import ShotCounter
from vigil.live.tracking import FaceTracker
from vigil.live.tracking_config import TrackerConfig
from vigil.types import FloatArray, Image

HOLDS = (0.0, 0.5, 1.0, 2.0)
ANALYSIS_FPS = 5.0
PAD = 0.25


class _Raw:
    """A decoded frame as the cut detector takes it."""

    def __init__(self, image: Image, pts: float) -> None:
        self.image, self.pts = image, pts

    def to_bgr(self) -> Image:
        return self.image

    def thumbnail(self, width: int, height: int) -> Image:
        small = cv2.resize(self.image, (width, height), interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(small, cv2.COLOR_BGR2RGB)


@dataclass
class Counts:
    faces: int = 0
    tracked_only: int = 0
    held: dict[float, int] = field(default_factory=lambda: dict.fromkeys(HOLDS, 0))


def _uncovered(boxes: FloatArray, regions: list[FaceRegion], width: int, height: int) -> int:
    areas = [a for a in (padded_box(r.box, PAD, width, height) for r in regions) if a is not None]
    missed = 0
    for x1, y1, x2, y2 in boxes.tolist():
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        missed += not any(a[0] <= cx <= a[2] and a[1] <= cy <= a[3] for a in areas)
    return missed


def replay(clip: Path, models: list[Path]) -> tuple[int, int, dict[str, Counts]]:
    live = create_detector(YuNetConfig(), models)
    references: dict[str, FaceDetector] = {
        "blazeface_full": create_detector(BlazeFaceConfig(), models),
        "yunet_0.3": create_detector(YuNetConfig(score_threshold=0.3), models),
    }
    tracker, shots = FaceTracker(TrackerConfig()), ShotCounter()
    held = {hold: HeldFaces(hold) for hold in HOLDS}
    counts = {name: Counts() for name in references}
    analysed = shot = 0
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate or 25)
        step = max(1, round(rate / ANALYSIS_FPS))
        for index, decoded in enumerate(container.decode(stream)):
            image = decoded.to_ndarray(format="bgr24")
            shots.observe(_Raw(image, index / rate))  # every decoded frame, as the decoder does
            if index % step:
                continue
            if shots.shot != shot:  # the analysis worker ends every track at a cut
                shot = shots.shot
                tracker.finish()
            analysed += 1
            height, width = image.shape[:2]
            found = live.detect(image)
            tracked = tracker.update(found).detections
            tracked_regions = [FaceRegion((b[0], b[1], b[2], b[3])) for b in tracked.xyxy.tolist()]
            covered = {hold: held[hold].regions(index / rate, shot, found, tracked) or [] for hold in HOLDS}
            for name, detector in references.items():
                boxes, count = detector.detect(image).xyxy, counts[name]
                count.faces += len(boxes)
                count.tracked_only += _uncovered(boxes, tracked_regions, width, height)
                for hold in HOLDS:
                    count.held[hold] += _uncovered(boxes, covered[hold], width, height)
    return analysed, shot + 1, counts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("clips", nargs="+", type=Path)
    parser.add_argument(
        "--models", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "models"
    )
    args = parser.parse_args()
    for clip in args.clips:
        analysed, shots, counts = replay(clip, [args.models])
        print(f"{clip.name}: {analysed} analysed frames, {shots} shots")
        for name, count in counts.items():
            held = ", ".join(f"hold {hold:g} s {count.held[hold]}" for hold in HOLDS)
            print(
                f"  {name}: {count.faces} faces, uncovered: tracked boxes only {count.tracked_only}; {held}"
            )


if __name__ == "__main__":
    main()
