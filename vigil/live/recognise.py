"""Recognition thread: embeds gated faces and emits ordered events to the sinks."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence

from vigil.embed import FaceEmbedder
from vigil.live.analyse import EmbedRequest, WorkQueue
from vigil.live.counters import StageCounters
from vigil.live.events import EventSink, FaceEmbedded, Identifier, PipelineEvent, TrackEnded

log = logging.getLogger(__name__)


class RecognitionWorker:
    def __init__(
        self,
        embedder: FaceEmbedder,
        work: WorkQueue,
        sinks: Sequence[EventSink],
        counters: StageCounters,
        identifier: Identifier | None = None,
    ) -> None:
        self.embedder, self.work, self.counters = embedder, work, counters
        self.identifier = identifier
        self.sinks: list[EventSink] = [*([identifier] if identifier else []), *sinks]
        self._computed: Counter[int] = Counter()

    def run(self) -> None:
        while (item := self.work.get()) is not None:
            if isinstance(item, EmbedRequest):
                self._embed(item)
                continue
            if isinstance(item, TrackEnded):
                item.embeddings = self._computed.pop(item.track_id, 0)
            self._emit(item)

    def _embed(self, request: EmbedRequest) -> None:
        start = time.perf_counter()
        try:
            embedding = self.embedder.embed(request.crop)
        except Exception:  # one bad crop must not stop the camera
            self.counters.embed_errors += 1
            log.exception("%s: embedding failed for track %s", request.camera, request.track_id)
            return
        finally:
            self.counters.ms_embed += (time.perf_counter() - start) * 1000
        self.counters.embeddings += 1
        self._computed[request.track_id] += 1
        event = FaceEmbedded(
            camera=request.camera,
            track_id=request.track_id,
            ts=request.ts,
            pts=request.pts,
            quality=request.quality,
            embedding=embedding,
            crop=request.crop.image,
            box=request.crop.box,
            source=request.source,
        )
        self._identify(event)
        self._emit(event)
        event.source = request.source = None  # the frame goes as soon as every sink had it

    def _identify(self, event: FaceEmbedded) -> None:
        if self.identifier is None:
            return
        try:
            event.identity = self.identifier.identify(event)
        except Exception as exc:  # the store must never take a camera down
            self.counters.identity_errors += 1
            event.identity_error = str(exc)
            log.error("identity: %s (camera %s, track %s)", exc, event.camera, event.track_id)

    def _emit(self, event: PipelineEvent) -> None:
        for sink in self.sinks:
            try:
                sink.handle(event)
            except Exception:  # a failing sink must not stop recognition
                log.exception("event sink %s failed on %s", type(sink).__name__, event.type)
