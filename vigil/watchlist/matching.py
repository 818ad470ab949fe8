"""Matching faces against the watchlist, and the decision of a track from all its faces.

Each embedding is compared with every reference of the same model (a person scores their best
reference); the scores go on the thresholds' scale (`calibration.Scorer`). A track's score for a
person is the quality-weighted mean of its faces' scores (weight = quality^2, so a sharp frontal
face counts about four times a poor one), so one lucky frame cannot make a match on its own and a
better face can lift a probable to a match. The decision is taken again at every new embedding."""

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
    score: float  # the track's score (quality-weighted mean)
    face_score: float  # the newest face's own score
    faces: int  # embeddings of the track so far


@dataclass
class _Evidence:
    weight: float = 0.0
    weighted: dict[uuid.UUID, float] = field(default_factory=dict)
    faces: int = 0
    raised: dict[uuid.UUID, Level] = field(default_factory=dict)

    def add(self, scores: list[PersonScore], quality: float) -> None:
        w = max(quality, 0.05) ** 2
        self.weight += w
        self.faces += 1
        for s in scores:
            self.weighted[s.person_id] = self.weighted.get(s.person_id, 0.0) + w * s.score

    def best(self) -> tuple[uuid.UUID, float] | None:
        if not self.weighted:
            return None
        person = max(self.weighted, key=lambda p: self.weighted[p])
        return person, self.weighted[person] / self.weight


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
        self, camera: str, track_id: int, scores: list[PersonScore], quality: float
    ) -> Decision | None:
        evidence = self._evidence(camera, track_id)
        evidence.add(scores, quality)
        best = evidence.best()
        if best is None:
            return None
        person, score = best
        level = level_of(score, self._thresholds_for(camera))
        if LEVEL_RANK[level] <= LEVEL_RANK[evidence.raised.get(person)]:
            return None
        assert level is not None
        evidence.raised[person] = level
        face_score = next((s.score for s in scores if s.person_id == person), 0.0)
        return Decision(camera, track_id, person, level, score, face_score, evidence.faces)

    def end(self, camera: str, track_id: int) -> None:
        """The track is over: forget its evidence."""
        self._tracks.pop((camera, track_id), None)

    def _evidence(self, camera: str, track_id: int) -> _Evidence:
        key = (camera, track_id)
        if key not in self._tracks and len(self._tracks) >= self._max_tracks:
            self._tracks.pop(next(iter(self._tracks)))  # the oldest: its track ended unseen
        return self._tracks.setdefault(key, _Evidence())
