"""The trainable classifier: a scikit-learn random forest over the rules' scores and the cues
they read most.

Its inputs are the eight rule scores (rules.py) plus fourteen cues, not every window feature: a
forest given everything learns what tells synthetic windows from real ones (the audio level, how
many samples saw a pose) instead of what tells activities apart, and then calls a held-out real
clip by the nearest real clip it knows. The rule scores carry what is known about each activity
into the model, so a class without labelled clips still has a way to be predicted.

`vigil activity train LABELS.csv` fits it on the labelled clips' windows (plus, unless asked not
to, synthetic windows of every activity: vigil/activity/synthetic.py) and saves it with joblib.
A saved model is a pickle: load only files you made (`activity.model_path` is set by the
operator, never from a request)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from vigil.activity.features import WindowFeatures
from vigil.activity.labels import Activity
from vigil.activity.rules import Decision, rule_scores
from vigil.errors import ModelError
from vigil.private_files import replace_private_file

__all__ = ["TrainedModel", "fit", "load_model", "save_model"]

FORMAT = 2
CUES: tuple[str, ...] = (
    "present", "limb_motion", "limb_seen", "motion", "eyes_closed_frac", "face_seen", "jaw_motion",
    "head_down", "hand_at_ear", "hand_at_mouth", "hands_in_front", "voice_frac", "food", "book",
)  # fmt: skip
FEATURE_NAMES: tuple[str, ...] = tuple(f"rule_{a.value}" for a in Activity) + CUES


def model_vector(f: WindowFeatures) -> list[float]:
    scores = rule_scores(f)
    return [scores[a] for a in Activity] + [float(getattr(f, name)) for name in CUES]


@dataclass(frozen=True)
class TrainedModel:
    forest: Any  # a fitted RandomForestClassifier
    classes: tuple[Activity, ...]
    feature_names: tuple[str, ...]
    clips: tuple[str, ...]  # what it was trained on (for the record)
    synthetic_windows: int
    name: ClassVar[str] = "model"  # a WindowClassifier (classify.py) as it is

    def decide(self, features: Sequence[WindowFeatures]) -> list[Decision]:
        if not features:
            return []
        shares = self.forest.predict_proba(np.array([model_vector(f) for f in features], np.float64))
        decisions = []
        for f, row in zip(features, shares, strict=True):
            scores = dict.fromkeys(Activity, 0.0)
            scores.update({c: float(p) for c, p in zip(self.classes, row, strict=True)})
            winner = max(scores, key=lambda a: scores[a])
            decisions.append(Decision(f.start, f.end, winner, round(scores[winner], 4), scores))
        return decisions


def fit(
    features: Sequence[WindowFeatures],
    labels: Sequence[Activity],
    clips: Sequence[str],
    synthetic_windows: int = 0,
    seed: int = 0,
) -> TrainedModel:
    if len(set(labels)) < 2:
        raise ModelError("training needs windows of at least two activities")
    from sklearn.ensemble import RandomForestClassifier  # ~0.6 s: not for the rules' analyses

    forest = RandomForestClassifier(
        n_estimators=200,
        max_depth=6,
        min_samples_leaf=2,
        class_weight="balanced",
        random_state=seed,
        n_jobs=1,
    )
    forest.fit(np.array([model_vector(f) for f in features], np.float64), [str(a) for a in labels])
    classes = tuple(Activity(c) for c in forest.classes_)
    return TrainedModel(forest, classes, FEATURE_NAMES, tuple(clips), synthetic_windows)


def save_model(model: TrainedModel, path: Path) -> None:
    """Written beside `path` and renamed: a reader never sees half a model."""
    import joblib

    buffer = io.BytesIO()
    joblib.dump({"format": FORMAT, "model": model}, buffer)
    replace_private_file(path, buffer.getvalue())


def load_model(path: Path) -> TrainedModel:
    if not path.is_file():
        raise ModelError(
            f"no trained activity model at {path}; run `vigil activity train LABELS.csv --out {path}`"
        )
    import joblib  # the forest's scikit-learn is imported by the unpickling

    try:
        saved = joblib.load(path)
    except Exception as exc:  # a pickle can fail in many ways; all mean "not a model of ours"
        raise ModelError(f"{path} is not a Vigil activity model: {exc}") from exc
    model = saved.get("model") if isinstance(saved, dict) else None
    if not isinstance(model, TrainedModel) or saved.get("format") != FORMAT:
        raise ModelError(f"{path} is not a Vigil activity model (format {FORMAT})")
    if model.feature_names != FEATURE_NAMES:
        raise ModelError(f"{path} was trained on other cues than this version reads; train it again")
    return model
