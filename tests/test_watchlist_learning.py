"""Learning from operators (issue 15, section 4): a rejected alert's faces become negatives of the
person, and later faces nearer to them than to the references raise no alert; an admin can undo a
lesson; a confirmation may add the alert's face to the references."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from vigil.config import VigilSettings
from vigil.live.events import FaceEmbedded, JsonlSink, TrackEnded
from vigil.store.crops import CropStore
from vigil.store.database import Database, connect
from vigil.types import FaceEmbedding
from vigil.watchlist.alerts import AlertFilter, AlertRepository
from vigil.watchlist.calibration import Scorer
from vigil.watchlist.decisions import AlertDesk
from vigil.watchlist.learning import LearningRepository
from vigil.watchlist.matching import Matcher
from vigil.watchlist.monitor import WatchlistMonitor
from vigil.watchlist.repository import NewReference, ReferenceSet, WatchlistRepository

MODEL = "dlib_resnet_v1"
CROP = np.full((64, 64, 3), 90, np.uint8)
T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC).timestamp()


def unit(v: np.ndarray) -> np.ndarray:
    return np.asarray(v / np.linalg.norm(v), dtype=np.float32)


ADA = unit(np.random.default_rng(1).normal(size=128))
# A stranger who looks like Ada to the embedder (cosine 0.96 with her reference: a match).
LOOKALIKE = unit(ADA + 0.3 * unit(np.random.default_rng(2).normal(size=128)))


def near(vector: np.ndarray, seed: int) -> np.ndarray:
    """Another face of the same person: a small random change."""
    return unit(vector + 0.05 * unit(np.random.default_rng(seed).normal(size=128)))


def test_a_face_nearer_a_negative_than_the_references_is_suppressed() -> None:
    ada = uuid.uuid4()
    references = ReferenceSet("m", [ada], ADA[None, :])
    negatives = ReferenceSet("m", [ada], LOOKALIKE[None, :])
    matcher = Matcher(references, Scorer("raw", None), negatives)
    stranger = matcher.scores(FaceEmbedding(near(LOOKALIKE, 3), "m"))[0]
    assert stranger.suppressed and stranger.score == 0.0 and stranger.raw > 0.9
    herself = matcher.scores(FaceEmbedding(near(ADA, 4), "m"))[0]
    assert not herself.suppressed and herself.score > 0.95
    no_negatives = Matcher(
        references, Scorer("raw", None), ReferenceSet("m", [], np.zeros((0, 0), np.float32))
    )
    assert not no_negatives.scores(FaceEmbedding(LOOKALIKE, "m"))[0].suppressed


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    db = connect(db_url)
    yield db
    db.dispose()


def face(camera: str, track: int, vector: np.ndarray, ts: float, quality: float = 0.8) -> FaceEmbedded:
    return FaceEmbedded(
        camera=camera, track_id=track, ts=ts, pts=ts - T0, quality=quality,
        embedding=FaceEmbedding(vector, MODEL), crop=CROP,
    )  # fmt: skip


def test_a_rejection_silences_the_lookalike_until_undone(database: Database, tmp_path: Path) -> None:
    root = tmp_path / "watchlist"
    people, alerts = WatchlistRepository(database, root), AlertRepository(database, CropStore(root))
    learning = LearningRepository(database)
    ada = people.add_person("Ada", [NewReference(ADA, MODEL, CROP, 0.9, "photo")]).id
    events = tmp_path / "events.jsonl"
    sink = JsonlSink(events)
    config = VigilSettings().watchlist.model_copy(update={"cooldown_s": 0})
    monitor = WatchlistMonitor(people, alerts, config, MODEL, [sink], refresh_s=0)
    for i in range(3):  # the lookalike passes the door: three faces of one track
        monitor.handle(face("door", 1, near(LOOKALIKE, 10 + i), T0 + i))
    monitor.handle(TrackEnded(camera="door", track_id=1, ts=T0 + 3, pts=3))
    _, [alert] = alerts.page(AlertFilter())
    desk = AlertDesk(alerts, people, learning)
    result = desk.decide(alert.id, "rejected", "olga", "not her", datetime.now(UTC))
    assert result.negatives_learned == 3 and not result.reference_added
    [lesson] = learning.lessons(ada)
    assert (lesson.alert_id, lesson.faces, lesson.created_by) == (alert.id, 3, "olga")

    monitor.handle(face("door", 2, near(LOOKALIKE, 20), T0 + 10))  # back again: silence
    monitor.handle(face("door", 3, near(ADA, 21), T0 + 11))  # Ada herself still alerts
    assert learning.undo(alert.id) == 3 and learning.lessons(ada) == []
    monitor.handle(face("door", 4, near(LOOKALIKE, 22), T0 + 12))  # the lesson is gone
    monitor.close()
    sink.close()
    raised = [json.loads(line) for line in events.read_text().splitlines()]
    assert [(e["track_id"], e["type"]) for e in raised] == [
        (1, "watchlist_alert"), (3, "watchlist_alert"), (4, "watchlist_alert"),
    ]  # fmt: skip


def test_a_confirmation_can_add_the_face_to_the_references(database: Database, tmp_path: Path) -> None:
    root = tmp_path / "watchlist"
    people, alerts = WatchlistRepository(database, root), AlertRepository(database, CropStore(root))
    learning = LearningRepository(database)
    ada = people.add_person("Ada", [NewReference(ADA, MODEL, CROP, 0.9, "photo")]).id
    monitor = WatchlistMonitor(people, alerts, VigilSettings().watchlist, MODEL, refresh_s=0)
    monitor.handle(face("door", 1, near(ADA, 5), T0, quality=0.5))
    monitor.handle(face("door", 1, near(ADA, 6), T0 + 1, quality=0.9))  # the best face of the track
    _, [alert] = alerts.page(AlertFilter())
    desk = AlertDesk(alerts, people, learning)
    result = desk.decide(alert.id, "confirmed", "root", "", datetime.now(UTC), add_reference=True)
    assert result.reference_added and result.negatives_learned == 0
    references = people.references(ada)
    assert [r.source for r in references] == ["photo", "alert"] and references[1].quality == pytest.approx(
        0.9
    )
    similarities = people.reference_set(MODEL).vectors @ near(ADA, 6)
    assert float(similarities.max()) == pytest.approx(1.0, abs=1e-5)  # the best face, not the first
    assert people.crops.resolve(references[1].crop_path).is_file()
    monitor.close()
