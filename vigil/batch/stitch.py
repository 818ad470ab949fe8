"""Stitches chunk observations into one video's output frames, in frame order, in the parent.

Chunks come back from the workers out of order; the runner feeds their frames here strictly in
frame order, so one tracker sees the whole video exactly as a single-worker run would: shot cuts
(shots.py), track ids (`obj_N`, relink.py), per-track blendshape calibration and speaking
windows continue across chunk boundaries with nothing to reconcile. (Workers overlap chunks by
up to N-1 frames so that their observations, the only thing they compute, match a single run
too: see process.py.)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from vigil.batch.blendshapes import BlendshapeEstimator
from vigil.batch.headpose import LandmarkLayout
from vigil.batch.output import (
    ABSENT,
    FACE_SOURCE,
    FALLBACK_SOURCE,
    Absent,
    BoxFields,
    DetectionStats,
    FrameEntry,
    HeadPose,
    TrackedObject,
)
from vigil.batch.process import Box, FaceObs, FrameObs
from vigil.batch.relink import BatchTracker, Observation
from vigil.batch.settings import BatchSettings
from vigil.batch.shots import ShotDetector
from vigil.batch.speaking import SpeakingDetector, window_for_fps
from vigil.batch.speaking_mouth import mouth_signal
from vigil.types import FloatArray

PERSON_SOURCE = FALLBACK_SOURCE


@dataclass
class DetectionCounts:
    frames: int = 0
    frames_with_face: int = 0
    faces: int = 0
    persons: int = 0

    def summary(self) -> DetectionStats:
        total = max(self.frames, 1)
        return DetectionStats(
            face_detection_rate=round(self.frames_with_face / total, 4),
            avg_faces_per_frame=round(self.faces / total, 4),
            object_detection_fallback_used=self.persons > 0,
        )


class _Ids:
    """obj_N ids in order of first appearance, shared by faces and persons."""

    def __init__(self) -> None:
        self._ids: dict[tuple[str, int], str] = {}

    def __call__(self, kind: str, track_id: int) -> str:
        key = (kind, track_id)
        if key not in self._ids:
            self._ids[key] = f"obj_{len(self._ids) + 1}"
        return self._ids[key]


def blendshape_estimator(settings: BatchSettings) -> BlendshapeEstimator:
    """The per-video blendshape estimator of these settings; ValueError on an invalid export
    profile (run_batch builds one before any work, so a bad profile fails the run, not a video)."""
    return BlendshapeEstimator(
        profile=settings.blendshapes_profile,
        export_keys=settings.blendshapes_export_keys,
        include_tongue=settings.blendshapes_include_tongue,
        throttle_n=settings.blendshapes_throttle_n,
        jaw_open_scale=settings.jawopen_scale,
    )


class VideoStitcher:
    """Feed `entry(obs)` every frame of one video in order; it returns the frame's output entry."""

    def __init__(
        self,
        settings: BatchSettings,
        fps: float,
        audio: Any,
        layout: LandmarkLayout,
        scene_cuts: Iterable[int] = (),
        scene_warning: str | None = None,
    ) -> None:
        self._faces, self._persons = BatchTracker(settings.tracker), BatchTracker(settings.tracker)
        # `scene_cuts`: the STEP3 CSV's scene starts; `scene_warning`: why that CSV was set aside
        self.shots = ShotDetector(scene_cuts, warning=scene_warning)
        self._ids = _Ids()
        self._frame_ms, self._last_ms = 1000.0 / fps, -1000.0 / fps
        self._layout = layout
        self._verbose = settings.export_verbose_fields
        self._blendshapes = blendshape_estimator(settings)
        self._speaking = SpeakingDetector(
            audio,
            audio_weight=settings.speaking_audio_weight,
            visual_weight=settings.speaking_visual_weight,
            threshold=settings.speaking_threshold,
            window=window_for_fps(fps),
            fps=fps,
        )
        self.stats = DetectionCounts()
        self._next = 1

    def entry(self, obs: FrameObs) -> FrameEntry:
        if obs.frame != self._next:
            raise ValueError(f"frame {obs.frame} fed out of order (expected {self._next})")
        self._next += 1
        cut = self.shots.update(obs.frame, obs.signature)
        faces = [
            self._face(obs.frame, track_id, obs.faces[row]) for row, track_id in self._track_faces(obs, cut)
        ]
        persons: list[TrackedObject] = []
        if not faces:  # the fallback only ever describes frames without a face
            persons = [
                self._person(track_id, *obs.persons[row]) for row, track_id in self._track_persons(obs, cut)
            ]
        self.stats.frames += 1
        self.stats.faces += len(faces)
        self.stats.frames_with_face += bool(faces)
        self.stats.persons += len(persons)
        # Built from validated objects and a checked frame number: validating again would only
        # repeat each object's face rule (pydantic re-runs `after` validators on instances).
        # Frames past a truncation have no timestamp: one frame duration after the previous one.
        time_ms = self._last_ms + self._frame_ms if obs.timestamp_ms is None else obs.timestamp_ms
        self._last_ms = time_ms
        return FrameEntry.model_construct(
            frame=obs.frame,
            timestamp_ms=round(time_ms, 2),
            tracked_objects=faces + persons,
            active_speakers=[face.id for face in faces if face.is_speaking is True],
        )

    def _track_faces(self, obs: FrameObs, cut: bool) -> list[tuple[int, int]]:
        found = [_observation(f.box, f.score, f.appearance, f.held) for f in obs.faces]
        step = self._faces.update(obs.frame, found, cut)
        for ended in step.ended:
            key = self._ids("face", ended)
            self._blendshapes.forget(key)
            self._speaking.forget(key)
        return step.pairs

    def _track_persons(self, obs: FrameObs, cut: bool) -> list[tuple[int, int]]:
        found = [_observation(box, score) for box, score, _ in obs.persons]
        return self._persons.update(obs.frame, found, cut).pairs

    def _face(self, frame: int, track_id: int, face: FaceObs) -> TrackedObject:
        key = self._ids("face", track_id)
        blendshapes = None
        if face.landmarks is not None:
            blendshapes = self._blendshapes.update(key, frame, face.landmarks, self._layout, face.blendshapes)
        # The learned jawOpen when the Face Landmarker made blendshapes for this face, else the lips.
        learned_jaw = self._blendshapes.jaw_open(key) if face.blendshapes is not None else None
        speaking = self._speaking.update(key, frame, mouth_signal(face.landmarks, self._layout, learned_jaw))
        pose = None
        if face.head_pose is not None:
            pitch, yaw, roll = (round(v, 2) for v in face.head_pose)
            moved = ABSENT if face.translation is None else [round(v, 1) for v in face.translation]
            pose = HeadPose(pitch=pitch, yaw=yaw, roll=roll, translation=moved)
        landmarks: list[list[float]] | Absent = ABSENT
        if self._verbose and face.landmarks is not None:
            landmarks = np.round(face.landmarks.astype(np.float64), 2).tolist()
        return TrackedObject(
            **_box_fields(key, face.box, FACE_SOURCE, "face", face.score),
            is_speaking=speaking.is_speaking,
            speaking_confidence=round(speaking.confidence, 4),
            speaking_method=speaking.method,
            speaking_sources=list(speaking.sources),
            blendshapes=blendshapes,
            head_pose=pose,
            landmarks=landmarks,
        )

    def _person(self, track_id: int, box: Box, score: float, label: str) -> TrackedObject:
        object_id = self._ids("person", track_id)  # any fallback object (objects.py): one id space
        return TrackedObject(**_box_fields(object_id, box, PERSON_SOURCE, label, score))


def _observation(
    box: Box, score: float, appearance: FloatArray | None = None, held: bool = False
) -> Observation:
    return Observation(np.asarray(box, np.float32), float(score), appearance, held)


def _box_fields(object_id: str, box: Box, source: str, label: str, score: float) -> BoxFields:
    x0, y0, x1, y1 = (round(v, 2) for v in box)
    return BoxFields(
        id=object_id,
        bbox_xmin=x0,
        bbox_ymin=y0,
        bbox_xmax=x1,
        bbox_ymax=y1,
        bbox_width=round(x1 - x0, 2),
        bbox_height=round(y1 - y0, 2),
        centroid_x=round((x0 + x1) / 2, 2),
        centroid_y=round((y0 + y1) / 2, 2),
        source=source,
        label=label,
        confidence=round(min(max(score, 0.0), 1.0), 4),
    )
