"""Scoring on labelled clips (`vigil activity eval`): per-second predictions against per-second
labels, per-class precision/recall, macro-F1 and the confusion matrix.

The rules are scored as they are. The trained model is scored leave-one-clip-out: for each clip,
a model is fitted on the other clips (plus the synthetic windows, unless `synthetic_per_class` is
0) and predicts that clip, so no figure comes from a clip the model saw."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from vigil.activity.cache import CachedCues
from vigil.activity.classify import RulesClassifier, WindowClassifier
from vigil.activity.features import WindowFeatures, window_features, windows
from vigil.activity.labelled import LabelledSpan, label_at
from vigil.activity.labels import Activity
from vigil.activity.model import TrainedModel, fit
from vigil.activity.result import dominant
from vigil.activity.settings import ActivitySettings
from vigil.activity.synthetic import synthetic_cues
from vigil.activity.timeline import Segment, segments_of

__all__ = ["ClassScore", "EvalReport", "LabelledClip", "evaluate", "synthetic_training"]


@dataclass(frozen=True)
class LabelledClip:
    path: Path
    cues: CachedCues


class ClassScore(BaseModel):
    activity: Activity
    precision: float
    recall: float
    f1: float
    support_s: int  # labelled seconds


class ClipScore(BaseModel):
    path: str
    truth: Activity  # the clip's longest label
    predicted: Activity  # the analysis' dominant activity
    accuracy: float  # share of its labelled seconds predicted right


class EvalReport(BaseModel):
    classifier: str
    seconds: int
    macro_f1: float  # over the activities present in the labels
    accuracy: float
    classes: list[ClassScore]
    confusion_labels: list[Activity]
    confusion: list[list[int]]  # rows: truth, columns: predicted (seconds)
    clips: list[ClipScore]


def clip_features(cues: CachedCues, settings: ActivitySettings) -> list[WindowFeatures]:
    spans = windows(cues.duration, settings.window_s, settings.hop_s)
    return [window_features(s, e, cues.visual, cues.audio) for s, e in spans]


def clip_segments(
    cues: CachedCues, settings: ActivitySettings, classifier: WindowClassifier
) -> list[Segment]:
    decisions = classifier.decide(clip_features(cues, settings))
    return segments_of(decisions, cues.duration, settings.min_segment_s, settings.asleep_min_s)


def _activity_at(segments: Sequence[Segment], t: float) -> Activity:
    for segment in segments:
        if segment.start <= t < segment.end:
            return segment.activity
    return segments[-1].activity if segments else Activity.ABSENT


def synthetic_training(
    settings: ActivitySettings, per_class_s: float, seed: int = 0
) -> tuple[list[WindowFeatures], list[Activity]]:
    rng = np.random.default_rng(seed)
    features: list[WindowFeatures] = []
    labels: list[Activity] = []
    for activity in Activity:
        visual, audio = synthetic_cues(activity, per_class_s, settings.sample_interval_s, rng)
        cues = CachedCues(duration=per_class_s, visual=visual, audio=audio)
        windows_ = clip_features(cues, settings)
        features += windows_
        labels += [activity] * len(windows_)
    return features, labels


def labelled_windows(
    clip: LabelledClip, spans: list[LabelledSpan], settings: ActivitySettings
) -> tuple[list[WindowFeatures], list[Activity]]:
    features, labels = [], []
    for f in clip_features(clip.cues, settings):
        label = label_at(spans, clip.path, (f.start + f.end) / 2)
        if label is not None:
            features.append(f)
            labels.append(label)
    return features, labels


def train_model(
    clips: Sequence[LabelledClip],
    spans: list[LabelledSpan],
    settings: ActivitySettings,
    synthetic_per_class_s: float,
) -> TrainedModel:
    features, labels = (
        synthetic_training(settings, synthetic_per_class_s) if synthetic_per_class_s else ([], [])
    )
    synthetic = len(features)
    for clip in clips:
        f, y = labelled_windows(clip, spans, settings)
        features += f
        labels += y
    return fit(features, labels, [str(c.path) for c in clips], synthetic)


def evaluate(
    clips: Sequence[LabelledClip],
    spans: list[LabelledSpan],
    settings: ActivitySettings,
    classifier: str,
    synthetic_per_class_s: float = 60.0,
    on_clip: Callable[[Path], None] | None = None,
) -> EvalReport:
    truth: list[Activity] = []
    predicted: list[Activity] = []
    clip_scores = []
    for clip in clips:
        if on_clip is not None:
            on_clip(clip.path)
        if classifier == "model":
            others = [c for c in clips if c.path != clip.path]
            chosen: WindowClassifier = train_model(others, spans, settings, synthetic_per_class_s)
        else:
            chosen = RulesClassifier()
        segments = clip_segments(clip.cues, settings, chosen)
        own_truth, own_pred = _per_second(clip, spans, segments)
        truth += own_truth
        predicted += own_pred
        if own_truth:
            clip_scores.append(_clip_score(clip, own_truth, own_pred, segments))
    return _report(classifier, truth, predicted, clip_scores)


def _per_second(
    clip: LabelledClip, spans: list[LabelledSpan], segments: Sequence[Segment]
) -> tuple[list[Activity], list[Activity]]:
    truth, predicted = [], []
    for second in range(math.ceil(clip.cues.duration)):
        t = min(second + 0.5, clip.cues.duration - 1e-3)
        label = label_at(spans, clip.path, t)
        if label is not None:
            truth.append(label)
            predicted.append(_activity_at(segments, t))
    return truth, predicted


def _clip_score(
    clip: LabelledClip, truth: list[Activity], predicted: list[Activity], segments: Sequence[Segment]
) -> ClipScore:
    longest = max(set(truth), key=truth.count)
    right = sum(t == p for t, p in zip(truth, predicted, strict=True))
    return ClipScore(
        path=str(clip.path),
        truth=longest,
        predicted=dominant(segments),
        accuracy=round(right / len(truth), 3),
    )


def _report(
    classifier: str, truth: list[Activity], predicted: list[Activity], clips: list[ClipScore]
) -> EvalReport:
    # Here, not at the top: a file's analysis imports this module for its features, not the scores.
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    present = [a for a in Activity if a in truth]
    shown = [a for a in Activity if a in truth or a in predicted]
    p, r, f, s = precision_recall_fscore_support(truth, predicted, labels=present, zero_division=0)
    matrix = confusion_matrix(truth, predicted, labels=shown) if truth else np.zeros((0, 0), int)
    classes = [
        ClassScore(
            activity=a,
            precision=round(float(pa), 3),
            recall=round(float(ra), 3),
            f1=round(float(fa), 3),
            support_s=int(sa),
        )
        for a, pa, ra, fa, sa in zip(present, p, r, f, s, strict=True)
    ]
    return EvalReport(
        classifier=classifier,
        seconds=len(truth),
        macro_f1=round(float(np.mean(f)) if present else 0.0, 3),
        accuracy=round(sum(t == q for t, q in zip(truth, predicted, strict=True)) / max(len(truth), 1), 3),
        classes=classes,
        confusion_labels=shown,
        confusion=[[int(v) for v in row] for row in matrix],
        clips=clips,
    )
