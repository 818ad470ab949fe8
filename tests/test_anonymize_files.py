"""Gap filling (interpolation between detections, holding around them, never across a cut), the
frame schedule rendering reads, and which metadata keys stripping removes: synthetic inputs."""

from __future__ import annotations

import numpy as np
import pytest

from vigil.anonymize.faces import NO_LANDMARKS_BELOW_PX, TrackBoxes, tracking_settings
from vigil.anonymize.fill import FaceSchedule, fill_track
from vigil.anonymize.metadata import kept_container_tags, kept_stream_tags, removed_tags
from vigil.anonymize.settings import FaceOptions
from vigil.batch.settings import BatchSettings


def _track(
    frames: list[int], boxes: list[tuple[float, float, float, float]], name: str = "obj_1"
) -> TrackBoxes:
    return TrackBoxes(name, frames, boxes)


def test_gaps_between_detections_are_interpolated() -> None:
    filled = fill_track(_track([10, 14], [(0, 0, 10, 10), (40, 8, 50, 18)]), hold=0, total_frames=100)
    assert [f.frame for f in filled] == [10, 11, 12, 13, 14]
    assert [f.detected for f in filled] == [True, False, False, False, True]
    assert filled[2].box == pytest.approx((20, 4, 30, 14))  # halfway


def test_boxes_are_held_before_the_first_and_after_the_last_detection() -> None:
    filled = fill_track(_track([10, 11], [(0, 0, 10, 10), (2, 0, 12, 10)]), hold=3, total_frames=100)
    assert [f.frame for f in filled] == [7, 8, 9, 10, 11, 12, 13, 14]
    assert filled[0].box == (0, 0, 10, 10) and filled[-1].box == (2, 0, 12, 10)
    assert sum(f.detected for f in filled) == 2


def test_holding_stops_at_the_file_edges_and_at_shot_cuts() -> None:
    assert [f.frame for f in fill_track(_track([2], [(0, 0, 1, 1)]), 5, total_frames=4)] == [1, 2, 3, 4]
    # Cuts at 20 and 30 (first frames of new shots): a track seen on 21..28 stays within 20..29.
    filled = fill_track(_track([21, 28], [(0, 0, 1, 1), (0, 0, 1, 1)]), 5, total_frames=100, cuts=[20, 30])
    assert filled[0].frame == 20 and filled[-1].frame == 29


def test_frames_must_increase() -> None:
    with pytest.raises(ValueError, match="increase"):
        fill_track(_track([5, 5], [(0, 0, 1, 1), (0, 0, 1, 1)]), 0, 10)


def test_schedule_gives_each_frame_its_boxes() -> None:
    tracks = [
        _track([1, 3], [(0, 0, 10, 10), (10, 0, 20, 10)], "obj_1"),
        _track([2], [(50, 50, 60, 60)], "obj_2"),
    ]
    schedule = FaceSchedule(tracks, hold=1, total_frames=5)
    assert [len(schedule.regions(frame)) for frame in range(1, 6)] == [2, 2, 2, 1, 0]
    assert sorted(r.box for r in schedule.regions(2)) == [(5.0, 0.0, 15.0, 10.0), (50.0, 50.0, 60.0, 60.0)]
    assert len(schedule) == 7 and schedule.filled_count() == 4
    assert [sorted(schedule.track_numbers(frame)) for frame in (2, 4)] == [[0, 1], [0]]
    assert schedule.regions(99) == []


def test_schedule_carries_hulls_on_detected_frames_only() -> None:
    hull = np.array([[0, 0], [10, 0], [10, 10], [0, 10], [5, 12]], np.float32)
    track = TrackBoxes("obj_1", [1, 3], [(0, 0, 10, 10), (0, 0, 10, 10)], [hull, None])
    schedule = FaceSchedule([track], hold=0, total_frames=3)
    first, middle, last = (schedule.regions(f)[0] for f in (1, 2, 3))
    assert first.landmarks is not None and np.array_equal(first.landmarks, hull)
    assert middle.landmarks is None and last.landmarks is None


def test_stripping_lists_every_key_it_drops_but_the_muxers_own() -> None:
    container = {"major_brand": "qt  ", "creation_time": "2023-02-03T21:48:14Z", "location": "+48.85+002.29/"}
    video = {"creation_time": "x", "language": "und", "handler_name": "Core Media Video", "encoder": "HEVC"}
    removed = removed_tags(container, [(1, "video", video)], strip=True)
    assert [(r.scope, r.stream, r.key) for r in removed] == [
        ("container", None, "creation_time"),
        ("container", None, "location"),
        ("stream", 1, "creation_time"),
        ("stream", 1, "encoder"),
        ("stream", 1, "handler_name"),
    ]
    assert kept_container_tags(container, strip=True) == {}
    assert kept_stream_tags(video, strip=True) == {"language": "und"}
    assert removed_tags(container, [(1, "video", video)], strip=False) == []
    assert kept_container_tags(container, strip=False) == {
        k: v for k, v in container.items() if k != "major_brand"
    }


def test_the_face_pass_asks_for_landmarks_only_for_the_mask_style() -> None:
    base = BatchSettings(detect_every_n=5, blendshapes_profile="full", enable_object_detection=True)
    blur = tracking_settings(base, FaceOptions(style="blur", score_threshold=0.4), workers=2)
    assert (blur.detect_every_n, blur.blendshapes_profile, blur.enable_object_detection) == (1, "none", False)
    assert blur.score_threshold == 0.4 and blur.cpu_workers == 2
    assert blur.landmarks_min_face_px == NO_LANDMARKS_BELOW_PX and not blur.export_verbose_fields
    mask = tracking_settings(base, FaceOptions(style="mask"))
    assert mask.landmarks_min_face_px == base.landmarks_min_face_px and mask.export_verbose_fields
    assert mask.cpu_workers == base.cpu_workers
