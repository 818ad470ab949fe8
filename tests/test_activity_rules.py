"""Rules, window features and the timeline on synthetic cue sequences (vigil/activity/synthetic.py)."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from vigil.activity.classify import RulesClassifier
from vigil.activity.cues import AudioSample, VisualSample
from vigil.activity.features import WindowFeatures, window_features, windows
from vigil.activity.labels import Activity, display_name
from vigil.activity.limbs import LimbTracker
from vigil.activity.model import fit, load_model, save_model
from vigil.activity.pose import Body
from vigil.activity.rules import Decision
from vigil.activity.synthetic import synthetic_cues
from vigil.activity.timeline import segments_of
from vigil.errors import ModelError


def _features(visual: list[VisualSample], audio: list[AudioSample], duration: float) -> list[WindowFeatures]:
    return [window_features(s, e, visual, audio) for s, e in windows(duration, 4.0, 1.0)]


def _story(parts: list[tuple[Activity, float]], seed: int = 0) -> tuple[list[WindowFeatures], float]:
    rng = np.random.default_rng(seed)
    visual: list[VisualSample] = []
    audio: list[AudioSample] = []
    t = 0.0
    for activity, seconds in parts:
        v, a = synthetic_cues(activity, seconds, 0.5, rng, start=t)
        visual += v
        audio += a
        t += seconds
    return _features(visual, audio, t), t


@pytest.mark.parametrize("activity", list(Activity))
def test_rules_name_each_activity_from_its_cues(activity: Activity) -> None:
    features, duration = _story([(activity, 30.0)], seed=list(Activity).index(activity))
    segments = segments_of(RulesClassifier().decide(features), duration, 3.0, 5.0)
    assert [s.activity for s in segments] == [activity]
    assert segments[0].start == 0.0 and segments[0].end == duration


def test_a_story_is_cut_where_the_activity_changes() -> None:
    parts = [
        (Activity.READING, 30.0),
        (Activity.ON_PHONE, 20.0),
        (Activity.ABSENT, 20.0),
        (Activity.BUSY, 20.0),
    ]
    features, duration = _story(parts, seed=3)
    segments = segments_of(RulesClassifier().decide(features), duration, 3.0, 5.0)
    assert [s.activity for s in segments] == [a for a, _ in parts]
    edges = [s.end for s in segments[:-1]]
    for got, expected in zip(edges, (30.0, 50.0, 70.0), strict=True):
        assert abs(got - expected) <= 2.5
    for before, after in itertools.pairwise(segments):
        assert before.end == after.start  # contiguous, no gap
    assert all(0.0 < s.confidence <= 1.0 for s in segments)


def _decision(t: float, activity: Activity, share: float = 0.8) -> Decision:
    other = Activity.INACTIVE if activity != Activity.INACTIVE else Activity.READING
    scores = dict.fromkeys(Activity, 0.0) | {activity: share, other: 1 - share}
    return Decision(t, t + 4.0, activity, share, scores)


def test_one_window_blips_do_not_flicker() -> None:
    labels = [Activity.READING] * 10 + [Activity.BUSY] + [Activity.READING] * 10
    segments = segments_of([_decision(i, a) for i, a in enumerate(labels)], 24.0, 3.0, 5.0)
    assert [s.activity for s in segments] == [Activity.READING]


def test_short_states_merge_into_a_neighbour() -> None:
    labels = [Activity.READING] * 10 + [Activity.BUSY] * 2 + [Activity.INACTIVE] * 10
    segments = segments_of([_decision(i, a) for i, a in enumerate(labels)], 25.0, 3.0, 5.0)
    assert Activity.BUSY not in [s.activity for s in segments]
    assert [s.activity for s in segments] == [Activity.READING, Activity.INACTIVE]


def test_asleep_is_said_only_when_it_lasts() -> None:
    short = [Activity.INACTIVE] * 10 + [Activity.ASLEEP] * 3 + [Activity.INACTIVE] * 10
    segments = segments_of([_decision(i, a) for i, a in enumerate(short)], 26.0, 1.0, 5.0)
    assert Activity.ASLEEP not in [s.activity for s in segments]
    long = [Activity.INACTIVE] * 10 + [Activity.ASLEEP] * 8 + [Activity.INACTIVE] * 10
    segments = segments_of([_decision(i, a) for i, a in enumerate(long)], 31.0, 1.0, 5.0)
    assert [s.activity for s in segments] == [Activity.INACTIVE, Activity.ASLEEP, Activity.INACTIVE]


def test_features_of_a_silent_faceless_window_hold_no_nan() -> None:
    rng = np.random.default_rng(1)
    visual, _ = synthetic_cues(Activity.ABSENT, 8.0, 0.5, rng)
    features = _features(visual, [], 8.0)
    assert features and all(not math.isnan(v) for f in features for v in f.vector())
    assert all(f.audio_seen == 0.0 and f.face_seen == 0.0 for f in features)


def test_windows_cover_short_and_long_media() -> None:
    assert windows(2.5, 4.0, 1.0) == [(0.0, 2.5)]
    spans = windows(10.5, 4.0, 1.0)
    assert spans[0] == (0.0, 4.0) and spans[-1][1] == 10.5
    assert windows(0.0, 4.0, 1.0) == []


def test_ui_names_in_both_languages() -> None:
    assert display_name(Activity.ON_PHONE) == "On the phone"
    assert display_name(Activity.EATING, "fr") == "Repas"


def test_trained_model_learns_synthetic_activities_and_round_trips(tmp_path: Path) -> None:
    train_x: list[WindowFeatures] = []
    train_y: list[Activity] = []
    for i, activity in enumerate(Activity):
        features, _ = _story([(activity, 40.0)], seed=100 + i)
        train_x += features
        train_y += [activity] * len(features)
    model = fit(train_x, train_y, ["synthetic"])
    path = tmp_path / "model.joblib"
    save_model(model, path)
    loaded = load_model(path)
    for i, activity in enumerate(Activity):
        features, _ = _story([(activity, 20.0)], seed=200 + i)
        decided = [d.activity for d in loaded.decide(features)]
        assert decided.count(activity) / len(decided) >= 0.8, (activity, decided)


def test_a_file_that_is_not_a_model_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.joblib"
    junk.write_bytes(b"not a pickle")
    with pytest.raises(ModelError, match="not a Vigil activity model"):
        load_model(junk)
    with pytest.raises(ModelError, match="vigil activity train"):
        load_model(tmp_path / "missing.joblib")


def _body(shift: tuple[float, float] = (0.0, 0.0), wrist: tuple[float, float] = (0.0, 0.0)) -> Body:
    points = np.zeros((33, 2))
    points[11], points[12] = (100.0, 100.0), (160.0, 100.0)  # shoulders 60 px apart
    points[23], points[24] = (110.0, 200.0), (150.0, 200.0)
    points[15], points[16] = (90.0, 180.0), (170.0, 180.0)
    points[15] += wrist
    points += shift
    return Body(points=points, visibility=np.ones(33), frame_size=(640, 360))


def test_limb_motion_ignores_the_camera_and_measures_the_limbs() -> None:
    tracker = LimbTracker()
    assert tracker.update(_body(), 0.0) is None  # nothing to compare with yet
    panned = tracker.update(_body(shift=(40.0, 10.0)), 0.5)  # the whole body moved: a camera pan
    assert panned == pytest.approx(0.0, abs=1e-9)
    waved = tracker.update(_body(shift=(40.0, 10.0), wrist=(0.0, -84.0)), 1.0)  # one wrist up 84 px
    assert waved is not None and waved == pytest.approx(
        84.0 / 70.0 / 9 / 0.5, rel=0.01
    )  # torso 100 px: scale 70
    assert tracker.update(None, 1.5) is None and tracker.update(_body(), 5.0) is None


def test_small_faces_do_not_vote_on_eyes_and_mouth() -> None:
    rng = np.random.default_rng(5)
    visual, audio = synthetic_cues(Activity.ASLEEP, 8.0, 0.5, rng)
    tiny = [
        VisualSample(
            s.t, s.people, None if s.person is None else replace(s.person, face_px=30.0), s.scene_motion
        )
        for s in visual
    ]
    assert _features(visual, audio, 8.0)[0].eyes_closed_frac > 0.8
    assert _features(tiny, audio, 8.0)[0].face_seen == 0.0
