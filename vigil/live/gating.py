"""Recognition gating: embed a track when it is new, clearly better seen, or due a fresh look.

- First embedding: at once when the track's quality reaches `min_quality`. A track that has not
  reached it after `first_wait_s` is embedded with its next face of at least `first_min_quality`:
  every track gets a first chance (small, far, turned faces of a person on the watchlist too),
  and a good face arriving within the wait goes instead of a poor one.
- Then: a face beating the best embedded one by `improvement_margin`, or, `refresh_s` after the
  last embedding, a face of at least `min_quality` at most `improvement_margin` below the best
  embedded one (one face is a noisy sample: the watchlist decides on a track's faces together).
- At most `max_embeddings` per track.

A track's first face of at least `min_quality` is urgent (`Observation.first`: the embedding
queue serves it before other faces and drops it last). The track keeps its best crop either way.
A request the embedding queue drops is given back (`withdraw`): a track whose first face was
dropped asks again."""

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
    embedded_quality: float = -1.0  # best quality sent for embedding
    embeddings: int = 0  # embeddings requested
    last_embed_ts: float = 0.0  # time of the last request
    good: bool = False  # a face of at least min_quality was requested
    best_crop: Image | None = None


@dataclass(frozen=True)
class Observation:
    embed: bool  # send this face to the embedder
    best: bool  # best-quality observation of the track so far: keep its crop
    # Urgent (goes before improvements, dropped last): the track's first request of a face of at least
    # min_quality, whether or not a poorer first-chance face went before it (a track kept across a
    # cut onto a new, well-seen face). A first-chance face under min_quality is not urgent: under
    # load, good faces pass first; dropped, the track asks again.
    first: bool = False


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
        if state.embeddings == 0:
            wanted = self._first_wanted(state, quality, ts)
        else:
            wanted = self._again_wanted(state, quality, ts)
        if not wanted:
            return Observation(embed=False, best=best)
        urgent = quality >= self.config.min_quality and not state.good
        state.good = state.good or quality >= self.config.min_quality
        state.embeddings += 1
        state.embedded_quality = max(state.embedded_quality, quality)
        state.last_embed_ts = ts
        return Observation(embed=True, best=best, first=urgent)

    def _first_wanted(self, state: TrackState, quality: float, ts: float) -> bool:
        if quality >= self.config.min_quality:
            return True
        waited = ts - state.started_ts >= self.config.first_wait_s
        return waited and quality >= self.config.first_min_quality

    def _again_wanted(self, state: TrackState, quality: float, ts: float) -> bool:
        margin = self.config.improvement_margin
        if quality >= state.embedded_quality + margin:
            return True
        refresh = self.config.refresh_s
        due = refresh > 0 and ts - state.last_embed_ts >= refresh
        return due and quality >= max(state.embedded_quality - margin, self.config.min_quality)

    def withdraw(self, track_id: int) -> None:
        """The embedding queue dropped one of the track's requests: give its place back. Without any
        request left, the track's next face is judged as a first one again."""
        state = self.tracks.get(track_id)
        if state is None or state.embeddings == 0:
            return
        state.embeddings -= 1
        if state.embeddings == 0:
            state.embedded_quality = -1.0
            state.good = False

    def keep_crop(self, track_id: int, crop: Image) -> None:
        """Store the crop of the observation `observe` just reported as best."""
        self.tracks[track_id].best_crop = crop

    def end(self, track_id: int) -> TrackState | None:
        return self.tracks.pop(track_id, None)
