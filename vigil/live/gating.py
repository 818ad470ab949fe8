"""Recognition gating: embed a track only when it is new or clearly better seen.

A track is embedded the first time its quality reaches `min_quality`; after that only when
its quality beats the best embedded so far by `improvement_margin`, at most
`max_embeddings` times. The track keeps its best crop either way. A request the embedding
queue drops is given back (`withdraw`): a track whose first face was dropped asks again."""

from __future__ import annotations

from dataclasses import dataclass

from vigil.config import GatingConfig
from vigil.types import Image


@dataclass
class TrackState:
    track_id: int
    started_ts: float
    frames: int = 0
    best_quality: float = 0.0  # best quality observed
    embedded_quality: float = -1.0  # quality of the last observation sent for embedding
    embeddings: int = 0  # embeddings requested
    best_crop: Image | None = None


@dataclass(frozen=True)
class Observation:
    embed: bool  # send this face to the embedder
    best: bool  # best-quality observation of the track so far: keep its crop
    first: bool = False  # the track's first embedding request (goes before improvements)


class RecognitionGate:
    """Not thread-safe: owned by one camera's analysis thread."""

    def __init__(self, config: GatingConfig) -> None:
        self.config = config
        self.tracks: dict[int, TrackState] = {}

    def start(self, track_id: int, ts: float) -> TrackState:
        state = TrackState(track_id, ts)
        self.tracks[track_id] = state
        return state

    def observe(self, track_id: int, quality: float, ts: float) -> Observation:
        """Record one observation: is it the track's best so far, and should it be embedded?"""
        state = self.tracks.get(track_id) or self.start(track_id, ts)
        state.frames += 1
        best = state.best_crop is None or quality > state.best_quality
        state.best_quality = max(state.best_quality, quality)
        if state.embeddings >= self.config.max_embeddings:
            return Observation(embed=False, best=best)
        first = state.embeddings == 0
        if first:
            wanted = quality >= self.config.min_quality
        else:
            wanted = quality >= state.embedded_quality + self.config.improvement_margin
        if wanted:
            state.embeddings += 1
            state.embedded_quality = quality
        return Observation(embed=wanted, best=best, first=first and wanted)

    def withdraw(self, track_id: int) -> None:
        """The embedding queue dropped one of the track's requests: give its place back. Without any
        request left, the next face reaching `min_quality` is a first request again."""
        state = self.tracks.get(track_id)
        if state is None or state.embeddings == 0:
            return
        state.embeddings -= 1
        if state.embeddings == 0:
            state.embedded_quality = -1.0

    def keep_crop(self, track_id: int, crop: Image) -> None:
        """Store the crop of the observation `observe` just reported as best."""
        self.tracks[track_id].best_crop = crop

    def end(self, track_id: int) -> TrackState | None:
        return self.tracks.pop(track_id, None)
