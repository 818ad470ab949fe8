"""Watchlist scoring (issue 15, part 2): the common score scale, the refusal of raw thresholds that
accept every impostor, per-person scores, and a track's decision from all its faces."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from tests.conftest import SHARED
from vigil.config import VigilSettings
from vigil.errors import ConfigError
from vigil.types import FaceEmbedding
from vigil.watchlist.calibration import (
    MATCH,
    PROBABLE,
    Calibration,
    CalibrationFile,
    Scorer,
    load_calibration,
    scorer_for,
)
from vigil.watchlist.config import Thresholds, WatchlistConfig
from vigil.watchlist.matching import Matcher, TrackDecider, level_of
from vigil.watchlist.repository import ReferenceSet
from vigil.watchlist.service import Watchlist, read_photos

MODEL = "dlib_resnet_v1"


def test_the_dlib_scale_is_anchored_where_the_benchmark_measured() -> None:
    calibration = load_calibration(MODEL)
    assert calibration is not None
    rates = calibration.data.rates
    assert rates["match"].photos_far == 0 and rates["match"].video_far == 0
    assert rates["probable"].photos_far == 0
    assert calibration.score(rates["match"].raw) == pytest.approx(MATCH)
    assert calibration.score(rates["probable"].raw) == pytest.approx(PROBABLE)
    assert calibration.score(calibration.data.impostor_max) < MATCH  # no measured stranger matches
    raws = np.linspace(-1, 1, 201)
    assert np.all(np.diff(calibration.score(raws)) >= 0)
    assert calibration.raw_for(MATCH) == pytest.approx(rates["match"].raw)
    # seed 004's raw 0.55 would be a very different number: every dlib impostor scores above it
    assert calibration.data.impostor_min > 0.55


def test_thresholds_that_cannot_work_are_refused_at_start() -> None:
    with pytest.raises(ConfigError, match="no watchlist calibration for the embedder model 'other'"):
        scorer_for("other", WatchlistConfig())
    assert scorer_for("other", WatchlistConfig(score_scale="raw")).scale == "raw"  # nothing to check against
    with pytest.raises(ConfigError, match="accepts every impostor") as refused:
        scorer_for(MODEL, WatchlistConfig(score_scale="raw"))
    assert "warn_threshold = 0.45" in str(refused.value) and "score_scale: calibrated" in str(refused.value)
    fine = WatchlistConfig(score_scale="raw", similarity_threshold=0.95, warn_threshold=0.93)
    assert scorer_for(MODEL, fine).scale == "raw"
    door = Thresholds(similarity_threshold=0.6, warn_threshold=0.5)
    with pytest.raises(ConfigError, match=r"\(camera door\)"):
        scorer_for(MODEL, fine.model_copy(update={"camera_thresholds": {"door": door}}))


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, np.float32)
    return vector / np.linalg.norm(vector)


def test_a_person_scores_their_best_reference() -> None:
    ada, bob = uuid.uuid4(), uuid.uuid4()
    references = ReferenceSet("m", [ada, bob, ada], np.stack([unit(1, 0, 0), unit(0, 1, 0), unit(0, 0, 1)]))
    matcher = Matcher(references, Scorer("raw", None))
    scores = matcher.scores(FaceEmbedding(unit(0.1, 0.2, 1), "m"))
    assert [s.person_id for s in scores] == [ada, bob]
    assert scores[0].raw == pytest.approx(float(unit(0.1, 0.2, 1)[2]), abs=1e-6)
    assert matcher.scores(FaceEmbedding(unit(1, 0, 0), "another model")) == []
    empty = Matcher(ReferenceSet("m", [], np.zeros((0, 0), np.float32)), Scorer("raw", None))
    assert empty.scores(FaceEmbedding(unit(1, 0, 0), "m")) == []


ADA = uuid.uuid4()
LEVELS = WatchlistConfig(camera_thresholds={"door": Thresholds(similarity_threshold=0.7, warn_threshold=0.6)})
# Raw scale: a face's score is its cosine with Ada's one reference, the x axis.
ADA_ONLY = Matcher(ReferenceSet("m", [ADA], np.stack([unit(1, 0, 0)])), Scorer("raw", None))


def face(score: float, side: float = 1.0) -> FaceEmbedding:
    """A unit vector scoring `score` against Ada (its other part on y, or -y with side=-1)."""
    return FaceEmbedding(unit(score, side * float(np.sqrt(1 - score**2)), 0), "m")


def test_levels_rise_once_and_a_better_face_upgrades() -> None:
    decider = TrackDecider(LEVELS.thresholds_for)
    first = decider.observe("hall", 1, face(0.50), 0.6, ADA_ONLY)
    assert first is not None and (first.level, first.faces) == ("probable", 1)
    assert first.score == pytest.approx(0.50, abs=1e-5)  # one face: the prototype is that face
    assert decider.observe("hall", 1, face(0.50), 0.6, ADA_ONLY) is None  # already raised
    upgrade = decider.observe("hall", 1, face(0.80), 0.9, ADA_ONLY)  # sharper face, stronger score
    assert upgrade is not None and upgrade.level == "match" and upgrade.face_score == pytest.approx(0.80)
    assert 0.55 <= upgrade.score < 0.80  # the track's prototype, not the last face alone
    assert decider.observe("hall", 1, face(0.9), 0.9, ADA_ONLY) is None
    assert decider.observe("hall", 1, FaceEmbedding(unit(1, 0, 0), "other model"), 0.9, ADA_ONLY) is None
    assert level_of(0.44, LEVELS) is None


def test_a_prototype_scores_above_its_faces_when_they_differ_only_by_noise() -> None:
    """Two faces of Ada at 0.5 whose off-axis parts cancel: their mean points at her reference."""
    decider = TrackDecider(LEVELS.thresholds_for)
    assert decider.observe("hall", 5, face(0.40), 0.8, ADA_ONLY) is None
    both = decider.observe("hall", 5, face(0.40, side=-1), 0.8, ADA_ONLY)
    assert both is not None and both.level == "match" and both.score == pytest.approx(1.0, abs=1e-5)
    assert both.face_score == pytest.approx(0.40)


def test_one_lucky_frame_does_not_make_a_match() -> None:
    decider = TrackDecider(LEVELS.thresholds_for)
    for _ in range(3):
        assert decider.observe("hall", 2, face(0.20), 0.9, ADA_ONLY) is None
    assert decider.observe("hall", 2, face(0.60), 0.5, ADA_ONLY) is None  # the prototype stays below 0.45


def test_per_camera_thresholds_and_forgotten_tracks() -> None:
    decider = TrackDecider(LEVELS.thresholds_for)
    assert decider.observe("door", 3, face(0.58), 0.8, ADA_ONLY) is None  # the door asks 0.6 / 0.7
    hall = decider.observe("hall", 3, face(0.58), 0.8, ADA_ONLY)  # same track id, another camera
    assert hall is not None and hall.level == "match"
    decider.end("hall", 3)
    again = decider.observe("hall", 3, face(0.58), 0.8, ADA_ONLY)
    assert again is not None and again.faces == 1  # a new track with that id starts from nothing


@pytest.fixture(scope="module")
def photo_references(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[np.ndarray]]:
    settings = VigilSettings(shared_dir=SHARED, data_dir=tmp_path_factory.mktemp("data"))
    watchlist = Watchlist.open(settings)
    people = SHARED / "media" / "faces" / "people"
    found: dict[str, list[np.ndarray]] = {}
    for folder in sorted(people.iterdir()):
        accepted, refused = watchlist.check(read_photos(sorted(folder.iterdir())))
        assert refused == []
        found[folder.name] = [ref.embedding for ref in accepted]
    watchlist.close()
    return found


def test_real_photos_held_out_match_their_person_and_strangers_stay_silent(
    photo_references: dict[str, list[np.ndarray]],
) -> None:
    """Enrol the first photo of everyone: a second photo of the same person is their best
    candidate and at least probable, as often a match as the published photo FRR says, and the
    people enrolled score no one else up to the probable level."""
    ids = {name: uuid.uuid4() for name in photo_references}
    enrolled = ReferenceSet(MODEL, [ids[n] for n in ids], np.stack([v[0] for v in photo_references.values()]))
    matcher = Matcher(enrolled, scorer_for(MODEL, WatchlistConfig()))
    held_out = {name: vectors[1] for name, vectors in photo_references.items() if len(vectors) > 1}
    assert len(held_out) == 5
    levels = {}
    for name, vector in held_out.items():
        scores = matcher.scores(FaceEmbedding(vector, MODEL))
        assert scores[0].person_id == ids[name], name
        levels[name] = level_of(scores[0].score, WatchlistConfig())
        assert all(s.score < PROBABLE for s in scores[1:]), name
    calibration = load_calibration(MODEL)
    assert calibration is not None
    missed = sum(level != "match" for level in levels.values()) / len(levels)
    assert missed == pytest.approx(calibration.data.rates["match"].photos_frr)
    assert set(levels.values()) <= {"match", "probable"}
    assert levels["alex_lacamoire"] == "probable"  # img1 vs ref.png: 0.934, the lowest genuine pair


def test_a_track_holding_two_people_is_not_averaged_into_one() -> None:
    """Trackers keep an id across a cut: Ada's face after Bob's on the same track starts a new
    prototype (below track_split_raw), so Bob's face does not drag Ada's score down, nor the reverse."""
    calibration = Calibration(
        CalibrationFile(
            model="m", generated="test", anchors=[(-1.0, 0.0), (0.5, 0.0), (1.0, 1.0)],
            impostor_min=-1.0, impostor_max=0.5, rates={}, track_split_raw=0.9,
        )
    )  # fmt: skip
    matcher = Matcher(ReferenceSet("m", [ADA], np.stack([unit(1, 0, 0)])), Scorer("calibrated", calibration))
    assert matcher.track_split_raw == 0.9
    decider = TrackDecider(LEVELS.thresholds_for)
    assert decider.observe("hall", 4, FaceEmbedding(unit(0, 1, 0), "m"), 0.9, matcher) is None  # Bob
    ada = decider.observe("hall", 4, FaceEmbedding(unit(1, 0.05, 0), "m"), 0.5, matcher)
    assert ada is not None and ada.level == "match" and ada.faces == 2
    # Without the split the prototype (Bob weighted 0.81, Ada 0.25) would score 0 for Ada.
    plain = Matcher(ReferenceSet("m", [ADA], np.stack([unit(1, 0, 0)])), Scorer("raw", None))
    decider = TrackDecider(
        WatchlistConfig(score_scale="raw", similarity_threshold=0.775, warn_threshold=0.725).thresholds_for
    )
    assert decider.observe("hall", 4, FaceEmbedding(unit(0, 1, 0), "m"), 0.9, plain) is None
    assert decider.observe("hall", 4, FaceEmbedding(unit(1, 0.05, 0), "m"), 0.5, plain) is None
