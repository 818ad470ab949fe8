import numpy as np

from vigil.live.tracking import FaceTracker
from vigil.live.tracking_config import TrackerConfig
from vigil.types import Detections


def _faces(shift: float) -> Detections:
    boxes = np.array([[10 + shift, 10, 60 + shift, 60], [200, 100, 260, 160]], np.float32)
    landmarks = np.tile(np.arange(10, dtype=np.float32).reshape(1, 5, 2), (2, 1, 1))
    landmarks[1] += 1000  # tell the rows apart after the tracker reorders them
    return Detections(boxes, np.array([0.9, 0.8]), landmarks)


def test_ids_persist_and_rows_stay_aligned() -> None:
    tracker = FaceTracker(TrackerConfig(min_consecutive=2, lost_track_buffer=3))
    first = tracker.update(_faces(0))
    assert first.started == [] and len(first.detections) == 0  # not yet confirmed
    second = tracker.update(_faces(3))
    assert sorted(second.started) == sorted(second.detections.track_id.tolist())
    ids = dict(
        zip(second.detections.xyxy[:, 0].round().tolist(), second.detections.track_id.tolist(), strict=True)
    )
    for step in range(2, 8):
        update = tracker.update(_faces(3 * step))
        assert update.started == [] and update.ended == []
        assert update.detections.landmarks is not None
        for box, lm, tid in zip(
            update.detections.xyxy, update.detections.landmarks, update.detections.track_id, strict=True
        ):
            is_static = box[0] == 200
            assert (lm[0, 0] >= 1000) == is_static  # landmarks still belong to their box
            assert tid == (ids[200.0] if is_static else ids[13.0])


def test_tracks_end_after_buffer_and_on_finish() -> None:
    tracker = FaceTracker(TrackerConfig(min_consecutive=1, lost_track_buffer=2))
    started = tracker.update(_faces(0)).started + tracker.update(_faces(0)).started
    assert len(started) == 2
    ended: list[int] = []
    for _ in range(5):
        ended += tracker.update(Detections.empty(5)).ended
    assert sorted(ended) == sorted(started)
    tracker.update(_faces(0))
    tracker.update(_faces(0))
    assert len(tracker.finish()) == 2 and tracker.alive == set()
    new_ids = tracker.update(_faces(0)).started + tracker.update(_faces(0)).started
    assert not set(new_ids) & set(started)  # ids are never reused on the camera


def test_data_slot_rows_travel_through_indexing_scaling_and_the_tracker() -> None:
    import pytest

    boxes = np.array([[10, 10, 50, 50], [200, 200, 260, 260], [400, 40, 440, 80]], np.float32)
    found = Detections(boxes, np.array([0.9, 0.95, 0.3], np.float32), data={"row": np.array([7, 8, 9])})
    picked = found[np.array([2, 0])]
    assert picked.data["row"].tolist() == [9, 7]
    assert found.scaled(2.0).data["row"].tolist() == [7, 8, 9]
    with pytest.raises(ValueError, match="one row per detection"):
        Detections(boxes, np.ones(3, np.float32), data={"row": np.arange(2)})
    tracker = FaceTracker(TrackerConfig(min_consecutive=1))
    tracker.update(found)
    tracked = tracker.update(found).detections  # the 0.3 box is below activation: dropped
    rows = dict(zip(tracked.data["row"].tolist(), tracked.xyxy[:, 0].tolist(), strict=True))
    assert rows == {7: 10.0, 8: 200.0}, "each box keeps its own row through the tracker"
