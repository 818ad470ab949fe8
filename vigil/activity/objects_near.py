"""Objects near the person: COCO detections (`vigil.batch.objects.MediaPipeObjectDetector`) of
the classes in `cues.NEAR_OBJECTS` whose box touches the person's box grown by half its size
(a cup on the table in front of them, a phone in the hand, the bed under them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vigil.activity.cues import NEAR_OBJECTS

__all__ = ["Detected", "grow", "near_objects", "touches"]

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels


@dataclass(frozen=True)
class Detected:
    label: str
    box: Box
    score: float


def grow(box: Box, factor: float, width: int, height: int) -> Box:
    """`box` grown by `factor` of its size (half on each side), clipped to the frame."""
    x0, y0, x1, y1 = box
    dx, dy = (x1 - x0) * factor / 2, (y1 - y0) * factor / 2
    return max(0.0, x0 - dx), max(0.0, y0 - dy), min(float(width), x1 + dx), min(float(height), y1 + dy)


def touches(a: Box, b: Box) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def near_objects(
    objects: Sequence[Detected], person: Box, frame_size: tuple[int, int], growth: float = 0.5
) -> frozenset[str]:
    """The NEAR_OBJECTS labels of `objects` touching `person` grown by `growth`."""
    area = grow(person, growth, *frame_size)
    return frozenset(o.label for o in objects if o.label in NEAR_OBJECTS and touches(o.box, area))
