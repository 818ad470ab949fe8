"""The recognition worker assigns identities before any sink sees an event, so sink order is free."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vigil.config import load_settings
from vigil.embed.base import FaceCrop, FaceEmbedder
from vigil.live.analyse import EmbedRequest, WorkQueue
from vigil.live.counters import StageCounters
from vigil.live.events import FaceEmbedded, JsonlSink, MemorySink, PipelineEvent, TrackEnded
from vigil.live.queues import TwoLaneQueue
from vigil.live.recognise import RecognitionWorker
from vigil.store.identifier import StoreIdentifier
from vigil.store.repository import IdentityStore
from vigil.types import FaceEmbedding


class PixelMeanEmbedder(FaceEmbedder):
    """A deterministic embedder for synthetic crops: the mean colour per channel plus a bias."""

    name, dim = "pixel_mean_test", 4

    def embed(self, crop: FaceCrop) -> FaceEmbedding:
        means = crop.image.reshape(-1, 3).mean(axis=0).astype(np.float32)
        return self._wrap(np.append(means, 1.0))


class BrokenStore:
    def identify(self, event: FaceEmbedded) -> None:
        raise RuntimeError("database is locked")

    def handle(self, event: PipelineEvent) -> None: ...

    def close(self) -> None: ...


def _work(colours: list[tuple[int, int, int]]) -> WorkQueue:
    work: WorkQueue = TwoLaneQueue(16)
    for track, colour in enumerate(colours, start=1):
        image = np.empty((64, 64, 3), np.uint8)
        image[:] = colour
        crop = FaceCrop(image, np.array([8, 8, 56, 56], np.float32), None)
        work.put(EmbedRequest("door", track, 1000.0 + track, float(track), 0.8, crop))
        work.put(TrackEnded("door", track, 1000.5 + track, track + 0.5))
    work.put(None)
    return work


def test_sinks_see_the_identity_whatever_their_order(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    store = IdentityStore.open(settings)
    memory = MemorySink()
    jsonl = tmp_path / "events.jsonl"
    writer = JsonlSink(jsonl)
    # The writer is first and the identifier is not a sink of the list at all.
    worker = RecognitionWorker(
        PixelMeanEmbedder(),
        _work([(40, 40, 200), (40, 40, 200), (200, 40, 40)]),
        [writer, memory],
        StageCounters(),
        StoreIdentifier(store),
    )
    worker.run()
    writer.close()
    store.close()
    written = [json.loads(line) for line in jsonl.read_text().splitlines()]
    embedded = [e for e in written if e["type"] == "face_embedded"]
    assert [e["new_visitor"] for e in embedded] == [True, False, True]
    assert embedded[0]["visitor_id"] == embedded[1]["visitor_id"] != embedded[2]["visitor_id"]
    typed = [e for e in memory.events if isinstance(e, FaceEmbedded)]
    assert all(e.identity is not None for e in typed)
    assert typed[1].identity is not None and typed[1].identity.similarity is not None
    assert typed[1].identity.similarity > 0.99


def test_a_failing_store_is_counted_and_reported_and_recognition_goes_on(tmp_path: Path) -> None:
    memory = MemorySink()
    counters = StageCounters()
    worker = RecognitionWorker(
        PixelMeanEmbedder(), _work([(40, 40, 200), (200, 40, 40)]), [memory], counters, BrokenStore()
    )
    worker.run()
    embedded = [e for e in memory.events if isinstance(e, FaceEmbedded)]
    assert len(embedded) == 2 and counters.identity_errors == 2
    assert all(e.identity is None and e.identity_error == "database is locked" for e in embedded)
    assert embedded[0].to_dict()["store_error"] == "database is locked"
    assert "visitor_id" not in embedded[0].to_dict()
