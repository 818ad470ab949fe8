"""Builds camera pipelines the same way for `vigil watch` (Supervisor) and `vigil serve` (CameraManager)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2

from vigil.activity.live import LiveActivity, SegmentSink
from vigil.config import CameraConfig, VigilSettings
from vigil.detect import create_detector
from vigil.embed import FaceEmbedder, create_embedder
from vigil.live.camera import CameraPipeline
from vigil.live.events import EventSink, Identifier
from vigil.sources import source_kind


def configure_process(settings: VigilSettings) -> None:
    """Process-wide settings of a camera host: OpenCV threads (1 suits many cameras)."""
    if settings.runtime.opencv_threads:
        cv2.setNumThreads(settings.runtime.opencv_threads)


def default_embedder(settings: VigilSettings) -> FaceEmbedder:
    """One embedder for every camera: weights loaded once, in child processes by default."""
    return create_embedder(settings.embedder, settings.use_gpu, settings.runtime.embed_processes)


@dataclass
class PipelineFactory:
    settings: VigilSettings
    embedder: FaceEmbedder
    sinks: Sequence[EventSink] = ()
    identifier: Identifier | None = None  # assigns visitors before the sinks see an event
    clock: Callable[[], float] = time.time
    activity_sink: SegmentSink | None = None  # where a camera's activity segments go (the store)

    def build(self, name: str, camera: CameraConfig) -> CameraPipeline:
        """A new, not yet started pipeline with its own detector (detectors keep per-call state)."""
        detector = create_detector(self.settings.detector, self.settings.model_search_dirs())
        activity = None
        if camera.activity:
            from vigil.activity.analyse import classifier_for
            from vigil.activity.audio_choice import selected_device

            audio = camera.activity_audio or self.settings.activity.live_audio
            usb = source_kind(camera.url) == "usb"
            activity = LiveActivity(
                name,
                self.settings.activity,
                self.settings.model_search_dirs(),
                classifier_for(self.settings),
                self.activity_sink,
                audio=audio,
                microphone=(
                    selected_device(self.settings.data_dir, self.settings.activity.audio_device)
                    if audio == "microphone"
                    else None
                ),
                # USB cameras give frames, no packets: their clips encode every frame they give.
                encode_frames=usb,
            )
        return CameraPipeline(
            name,
            camera,
            self.settings,
            detector,
            self.embedder,
            self.sinks,
            self.clock,
            self.identifier,
            activity,
        )
