import numpy as np

from vigil.config import MotionConfig
from vigil.live.dead_zones import DeadZones
from vigil.live.motion import MotionGate
from vigil.types import Detections


def _frame(square_at: int | None = None) -> np.ndarray:
    frame = np.full((360, 640, 3), 90, np.uint8)
    if square_at is not None:
        frame[100:180, square_at : square_at + 80] = 240
    return frame


def test_static_scene_skips_until_forced() -> None:
    gate = MotionGate(MotionConfig(force_every_s=3.0))
    assert gate.check(_frame(), 0.0).run_detection  # first frame
    skipped = [not gate.check(_frame(), t / 5).run_detection for t in range(1, 15)]
    assert all(skipped)  # 0.2 .. 2.8 s: nothing moves
    forced = gate.check(_frame(), 3.0)
    assert forced.run_detection and forced.forced


def test_motion_triggers_detection() -> None:
    gate = MotionGate(MotionConfig())
    gate.check(_frame(100), 0.0)
    assert not gate.check(_frame(100), 0.2).run_detection
    moved = gate.check(_frame(300), 0.4)
    assert moved.run_detection and not moved.forced and moved.moving_fraction > 0.01


def test_motion_mask_ignores_masked_area() -> None:
    mask = [[(250.0, 50.0), (640.0, 50.0), (640.0, 250.0), (250.0, 250.0)]]
    gate = MotionGate(MotionConfig(force_every_s=0), ignore=mask)
    gate.check(_frame(300), 0.0)
    assert not gate.check(_frame(400), 0.2).run_detection  # motion only inside the mask
    assert gate.check(_frame(50), 0.4).run_detection  # the square leaves the mask


def test_disabled_gate_always_detects() -> None:
    gate = MotionGate(MotionConfig(enabled=False))
    assert all(gate.check(_frame(), t / 5).run_detection for t in range(5))


def test_dead_zones_drop_faces_centred_inside() -> None:
    zones = DeadZones([[(0.0, 0.0), (640.0, 0.0), (640.0, 60.0), (0.0, 60.0)]])  # ceiling strip
    found = Detections(np.array([[10, 10, 50, 50], [10, 100, 50, 140]]), np.array([0.9, 0.8]))
    kept = zones.filter(found, 360, 640)
    assert kept.score.tolist() == [np.float32(0.8)]
    assert len(DeadZones([]).filter(found, 360, 640)) == 2
