"""Matching faces against the watchlist, and the decision of a track from all its faces.

Each embedding is compared with every reference of the same model (a person scores their best
reference); the scores go on the thresholds' scale (`calibration.Scorer`). A track's score for a
person is the score of its prototype: the quality-weighted mean of all its embeddings (weight =
quality^2, so a sharp frontal face counts about four times a poor one), L2-normalised. Averaging
one person's faces cancels what varies from frame to frame (expression, blur, pose) and keeps what
is theirs, so a track's prototype is nearer to its person's references than its single faces
(measured on the hamilton clip: lin_manuel_miranda 0.48 -> 0.72 with 3 faces) while an impostor's
is not (docs/watchlist.md); one lucky frame cannot make a match on its own. A face unlike the
track's prototype (below the calibration's `track_split_raw`) is another person under the same
track id (trackers keep ids across cuts and crossings): the prototype restarts from that face, so
two people are never averaged into one. The decision is taken again at every new embedding."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from vigil.types import FaceEmbedding
from vigil.watchlist.calibration import Scorer
from vigil.watchlist.config import Thresholds
from vigil.watchlist.repository import ReferenceSet

Level = Literal["probable", "match"]
LEVEL_RANK: dict[Level | None, int] = {None: 0, "probable": 1, "match": 2}


@dataclass(frozen=True)
class PersonScore:
    person_id: uuid.UUID
    raw: float  # best cosine similarity with the person's references
    score: float  # on the thresholds' scale; 0 when a negative is nearer (`suppressed`)
    suppressed: bool = False  # nearer to a face an operator rejected for this person


class _Vectors:
    """Vectors grouped by person: the best similarity per person in one matrix product."""

    def __init__(self, people: list[uuid.UUID], references: ReferenceSet) -> None:
        index = {person: i for i, person in enumerate(people)}
        keep = [i for i, p in enumerate(references.person_ids) if p in index]
        self._owner = np.array([index[references.person_ids[i]] for i in keep], np.int64)
        self._vectors = references.vectors[keep] if keep else np.zeros((0, 0), np.float32)
        self._size = len(people)

    def best(self, vector: np.ndarray) -> np.ndarray:
        best = np.full(self._size, -1.0)
        if len(self._owner):
            np.maximum.at(best, self._owner, self._vectors @ vector)
        return best


class Matcher:
    """Scores embeddings against one model's reference set and the negatives learned from
    rejections (rebuilt when the watchlist changes)."""

    def __init__(
        self, references: ReferenceSet, scorer: Scorer, negatives: ReferenceSet | None = None
    ) -> None:
        self.model = references.model
        self.scorer = scorer
        calibration = scorer.calibration
        self.track_split_raw = calibration.data.track_split_raw if calibration is not None else None
        self.people = sorted(set(references.person_ids))
        self._references = _Vectors(self.people, references)
        self._negatives = _Vectors(self.people, negatives) if negatives is not None else None

    def scores(self, embedding: FaceEmbedding) -> list[PersonScore]:
        """Every enrolled person's score for this face, best first; [] for another model's vector."""
        if embedding.model != self.model or not self.people:
            return []
        vector = np.asarray(embedding.vector, np.float32)
        best = self._references.best(vector)
        calibrated = self.scorer(best)
        suppressed = np.zeros(len(self.people), bool)
        if self._negatives is not None:
            suppressed = self._negatives.best(vector) > best
            calibrated = np.where(suppressed, 0.0, calibrated)
        order = np.argsort(-calibrated, kind="stable")
        return [
            PersonScore(self.people[i], float(best[i]), float(calibrated[i]), bool(suppressed[i]))
            for i in order
        ]


@dataclass(frozen=True)
class Decision:
    """A track's level for a person rose (new, or probable -> match): raise or upgrade an alert."""

    camera: str
    track_id: int
    person_id: uuid.UUID
    level: Level
    score: float  # the track's score (its prototype's)
    face_score: float  # the newest face's own score
    faces: int  # embeddings of the track so far


@dataclass
class _Evidence:
    total: np.ndarray | None = None  # quality-weighted sum of the current person's vectors
    faces: int = 0
    segments: int = 1  # people the track was found to hold (ids kept across cuts)
    raised: dict[uuid.UUID, Level] = field(default_factory=dict)

    def add(self, embedding: FaceEmbedding, quality: float, split_raw: float | None) -> FaceEmbedding:
        """Adds one face; the track's prototype so far. A face less similar than `split_raw` to
        the prototype is another person: the prototype restarts from it."""
        face = np.asarray(embedding.vector, np.float64)
        other = self.total is not None and (
            self.total.shape != face.shape
            or (split_raw is not None and float(_unit(self.total) @ face) < split_raw)
        )
        if other:
            self.total = None
            self.segments += 1
        weighted = face * max(quality, 0.05) ** 2
        self.total = weighted if self.total is None else self.total + weighted
        self.faces += 1
        return FaceEmbedding(_unit(self.total).astype(np.float32), embedding.model)


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def level_of(score: float, thresholds: Thresholds) -> Level | None:
    if score >= thresholds.similarity_threshold:
        return "match"
    if score >= thresholds.warn_threshold:
        return "probable"
    return None


class TrackDecider:
    """Per (camera, track) evidence; `observe` answers when a track's level for a person rises."""

    def __init__(self, thresholds_for: Callable[[str], Thresholds], max_tracks: int = 10_000) -> None:
        self._thresholds_for = thresholds_for
        self._tracks: dict[tuple[str, int], _Evidence] = {}
        self._max_tracks = max_tracks

    def observe(
        self, camera: str, track_id: int, embedding: FaceEmbedding, quality: float, matcher: Matcher
    ) -> Decision | None:
        """One more face of the track, scored by `matcher` (nothing for another model's vector)."""
        face_scores = matcher.scores(embedding)
        if not face_scores:
            return None
        evidence = self._evidence(camera, track_id)
        scores = matcher.scores(evidence.add(embedding, quality, matcher.track_split_raw))
        best = scores[0]
        level = level_of(best.score, self._thresholds_for(camera))
        if LEVEL_RANK[level] <= LEVEL_RANK[evidence.raised.get(best.person_id)]:
            return None
        assert level is not None
        evidence.raised[best.person_id] = level
        face_score = next(s.score for s in face_scores if s.person_id == best.person_id)
        return Decision(camera, track_id, best.person_id, level, best.score, face_score, evidence.faces)

    def end(self, camera: str, track_id: int) -> None:
        """The track is over: forget its evidence."""
        self._tracks.pop((camera, track_id), None)

    def _evidence(self, camera: str, track_id: int) -> _Evidence:
        key = (camera, track_id)
        if key not in self._tracks and len(self._tracks) >= self._max_tracks:
            self._tracks.pop(next(iter(self._tracks)))  # the oldest: its track ended unseen
        return self._tracks.setdefault(key, _Evidence())
