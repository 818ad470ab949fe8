"""Who a live camera's activity segment is about: the recognised visitor of the face tracks that were
on screen during it (issue 18 item 4: "person/visitor when known").

The activity analysis watches the camera's person, not a track; the face pipeline of the same
camera knows which visitor each track's face was assigned to. This sink of that pipeline keeps
each track's time span and visitor; a segment gets the visitor whose tracks overlap it the longest
when that visitor is clear:
- their tracks cover at least `MIN_COVER` of the segment (a passer-by recognised for a second in an
  hour of reading is not the reader), and
- at least `MIN_SHARE` of the recognised faces' time in it (two people in a room: no visitor).
Otherwise the segment has none ("—" in the history), e.g. a sleeper whose face is hidden."""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass

from vigil.live.events import FaceEmbedded, PipelineEvent, TrackEnded, TrackStarted

__all__ = ["SegmentVisitors"]

MIN_COVER = 0.25
MIN_SHARE = 2 / 3
TRACKS_KEPT = 2000  # the latest tracks (a busy entrance makes a few hundred an hour)


@dataclass
class _Span:
    start: float
    end: float | None = None  # still on screen
    visitor: uuid.UUID | None = None


class SegmentVisitors:
    """An event sink of the camera's pipeline (the recogniser thread) read by its activity thread."""

    def __init__(self, kept: int = TRACKS_KEPT) -> None:
        self._spans: OrderedDict[int, _Span] = OrderedDict()
        self._kept = kept
        self._lock = threading.Lock()

    def handle(self, event: PipelineEvent) -> None:
        with self._lock:
            if isinstance(event, TrackStarted):
                self._spans[event.track_id] = _Span(event.ts)
                while len(self._spans) > self._kept:
                    self._spans.popitem(last=False)
            elif isinstance(event, FaceEmbedded) and event.identity is not None:
                span = self._spans.setdefault(event.track_id, _Span(event.ts))
                span.visitor = uuid.UUID(event.identity.visitor_id)  # a better face may move it
            elif isinstance(event, TrackEnded) and event.track_id in self._spans:
                self._spans[event.track_id].end = event.ts

    def close(self) -> None:
        pass

    def during(self, start: float, end: float) -> uuid.UUID | None:
        """The visitor of the segment [start, end] (wall clock), None when not clear."""
        if end <= start:
            return None
        cover: dict[uuid.UUID, float] = {}
        with self._lock:
            for span in self._spans.values():
                if span.visitor is None:
                    continue
                overlap = min(end, span.end if span.end is not None else end) - max(start, span.start)
                if overlap > 0:
                    cover[span.visitor] = cover.get(span.visitor, 0.0) + overlap
        if not cover:
            return None
        best = max(cover, key=lambda visitor: cover[visitor])
        clear = cover[best] >= MIN_COVER * (end - start) and cover[best] >= MIN_SHARE * sum(cover.values())
        return best if clear else None
