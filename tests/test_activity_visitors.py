"""Which visitor a live activity segment is about (vigil/activity/visitors.py), from the camera's
track and identity events: the clear one, or none."""

from __future__ import annotations

import uuid

from vigil.activity.visitors import SegmentVisitors
from vigil.live.events import FaceEmbedded, IdentityMatch, TrackEnded, TrackStarted

ANA, BEN = uuid.uuid4(), uuid.uuid4()


def track(
    visitors: SegmentVisitors, track_id: int, start: float, end: float | None, who: uuid.UUID | None
) -> None:
    visitors.handle(TrackStarted(camera="c", track_id=track_id, ts=start, pts=0.0))
    if who is not None:
        identity = IdentityMatch(visitor_id=str(who), similarity=0.95, new_visitor=False)
        visitors.handle(
            FaceEmbedded(camera="c", track_id=track_id, ts=start + 0.5, pts=0.0, identity=identity)
        )
    if end is not None:
        visitors.handle(TrackEnded(camera="c", track_id=track_id, ts=end, pts=0.0))


def test_the_one_recognised_person_is_the_segments() -> None:
    visitors = SegmentVisitors()
    track(visitors, 1, 100.0, 130.0, ANA)
    track(visitors, 2, 135.0, None, ANA)  # still on screen
    assert visitors.during(110.0, 160.0) == ANA
    assert visitors.during(0.0, 50.0) is None  # nobody recognised then


def test_a_passer_by_or_a_crowd_is_nobodys_segment() -> None:
    visitors = SegmentVisitors()
    track(visitors, 1, 100.0, 101.0, BEN)  # 1 s of a 60 s segment
    assert visitors.during(100.0, 160.0) is None
    track(visitors, 2, 100.0, 160.0, ANA)
    assert visitors.during(100.0, 160.0) == ANA  # Ana 60 s, Ben 1 s
    track(visitors, 3, 100.0, 150.0, BEN)  # Ben 51 s too: two people, not clear
    assert visitors.during(100.0, 160.0) is None


def test_unrecognised_tracks_and_moved_faces() -> None:
    visitors = SegmentVisitors()
    track(visitors, 1, 0.0, 60.0, None)  # a face never assigned (store down)
    assert visitors.during(0.0, 60.0) is None
    track(visitors, 2, 0.0, 60.0, BEN)
    moved = IdentityMatch(visitor_id=str(ANA), similarity=0.93, new_visitor=False, moved_from=str(BEN))
    visitors.handle(FaceEmbedded(camera="c", track_id=2, ts=10.0, pts=0.0, identity=moved))
    assert visitors.during(0.0, 60.0) == ANA  # a better face moved the track


def test_only_the_latest_tracks_are_kept() -> None:
    visitors = SegmentVisitors(kept=3)
    for n in range(5):
        track(visitors, n, 10.0 * n, 10.0 * n + 9, ANA if n == 0 else BEN)
    assert visitors.during(0.0, 9.0) is None  # Ana's track was let go
    assert visitors.during(40.0, 49.0) == BEN
