"""Runs many cameras in one process; a failing camera never stops the others."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from vigil.activity.live import SegmentSink
from vigil.config import CameraConfig, VigilSettings
from vigil.embed import FaceEmbedder
from vigil.live.camera import CameraStatus
from vigil.live.events import EventSink, Identifier
from vigil.live.factory import PipelineFactory, configure_process, default_embedder
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
    """The cameras of `vigil watch`: built by the shared PipelineFactory, run until they end."""

    def __init__(
        self,
        settings: VigilSettings,
        cameras: Sequence[CameraConfig],
        sinks: Sequence[EventSink],
        clock: Callable[[], float] = time.time,
        embedder: FaceEmbedder | None = None,
        identifier: Identifier | None = None,
        activity_sink: SegmentSink | None = None,
    ) -> None:
        configure_process(settings)
        self.settings = settings
        self._owns_embedder = embedder is None
        self.embedder = embedder or default_embedder(settings)
        factory = PipelineFactory(settings, self.embedder, sinks, identifier, clock, activity_sink)
        try:
            names = unique_names(cameras)
            self.pipelines = [factory.build(name, cam) for name, cam in zip(names, cameras, strict=True)]
        except BaseException:  # e.g. a detector model is missing: stop the embedder's child process
            if self._owns_embedder:
                self.embedder.close()
            raise

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
