"""A worker process builds its models once, hands the same ones to every chunk, and closes them."""

from __future__ import annotations

from tests.batch_util import batch_settings, clip
from vigil.batch.process import ChunkTask, process_chunk
from vigil.batch.video import probe_video
from vigil.batch.worker import WorkerModels, worker_models


def test_person_detector_is_built_once_and_closed_when_settings_change() -> None:
    models = WorkerModels()
    settings = batch_settings(enable_object_detection=True, person_detector="hog")
    first = models.person_detector(settings)
    assert models.person_detector(settings) is first, "rebuilt for the same settings"
    other = models.person_detector(
        batch_settings(enable_object_detection=True, person_detector="hog", person_min_score=0.7)
    )
    assert other is not first and first.closed and not other.closed
    models.close()
    assert other.closed


def test_chunks_of_one_worker_share_its_person_detector() -> None:
    info = probe_video(clip("no_face.mp4"))
    settings = batch_settings(enable_object_detection=True, person_detector="hog", detect_every_n=5)
    process_chunk(ChunkTask(info.path, 0, 1, 10, settings), info)
    detector = worker_models().person_detector(settings)
    process_chunk(ChunkTask(info.path, 1, 11, 20, settings), info)
    assert worker_models().person_detector(settings) is detector and not detector.closed
    engine = worker_models().engine(settings)
    worker_models().close()
    assert detector.closed
    assert worker_models().engine(settings) is not engine, "closed models are rebuilt on next use"
