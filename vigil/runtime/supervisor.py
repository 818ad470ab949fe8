"""Runs many cameras in one process; a failing camera never stops the others."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

import cv2

from vigil.config import CameraConfig, VigilSettings
from vigil.detect import create_detector
from vigil.embed import FaceEmbedder, create_embedder
from vigil.runtime.camera import CameraPipeline, CameraStatus
from vigil.runtime.events import EventSink
from vigil.sources import camera_name

log = logging.getLogger(__name__)


def unique_names(cameras: Sequence[CameraConfig]) -> list[str]:
    names: list[str] = []
    for camera in cameras:
        base = camera.name or camera_name(camera.url)
        name, n = base, 2
        while name in names:
            name, n = f"{base}-{n}", n + 1
        names.append(name)
    return names


class Supervisor:
    def __init__(
        self,
        settings: VigilSettings,
        cameras: Sequence[CameraConfig],
        sinks: Sequence[EventSink],
        clock: Callable[[], float] = time.time,
        embedder: FaceEmbedder | None = None,
    ) -> None:
        if settings.runtime.opencv_threads:
            cv2.setNumThreads(settings.runtime.opencv_threads)
        self.settings = settings
        # One embedder for all cameras: weights loaded once, in child processes by default.
        self._owns_embedder = embedder is None
        self.embedder = embedder or create_embedder(
            settings.embedder, settings.use_gpu, settings.runtime.embed_processes
        )
        dirs = settings.model_search_dirs()
        self.pipelines = [
            CameraPipeline(
                name, cam, settings, create_detector(settings.detector, dirs), self.embedder, sinks, clock
            )
            for name, cam in zip(unique_names(cameras), cameras, strict=True)
        ]

    def start(self) -> None:
        for pipeline in self.pipelines:
            pipeline.start()

    def stop(self) -> None:
        for pipeline in self.pipelines:
            pipeline.stop()

    @property
    def running(self) -> bool:
        return any(p.running for p in self.pipelines)

    def wait(
        self,
        duration_s: float | None = None,
        stop: threading.Event | None = None,
        on_tick: Callable[[], None] | None = None,
        tick_s: float = 0.5,
    ) -> None:
        """Block until every camera ends, `duration_s` passes or `stop` is set; then stop all."""
        deadline = None if duration_s is None else time.monotonic() + duration_s
        stop = stop or threading.Event()
        try:
            while self.running and not stop.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                stop.wait(tick_s)
                if on_tick:
                    on_tick()
        finally:
            self.stop()
            for pipeline in self.pipelines:
                if not pipeline.join(timeout=30):
                    log.error("camera %s did not stop within 30 s", pipeline.name)
            if self._owns_embedder:
                self.embedder.close()

    def status(self) -> dict[str, CameraStatus]:
        return {p.name: p.status() for p in self.pipelines}
