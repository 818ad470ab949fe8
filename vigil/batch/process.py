"""Per-chunk frame loop, run in worker processes: decode, detect, landmarks, head pose, persons.

Track ids, blendshape calibration and speaking need the whole history of a track, so they run
in the parent, in frame order, over the observations these chunks return (vigil/batch/stitch.py).
What runs here depends only on the frames since the last detection frame: detection frames are
1, 1+N, 1+2N... of the *video* (not of the chunk), and a chunk starts decoding at the detection
frame at or before its first frame (overlapping the previous chunk by up to N-1 frames). That
makes every observation identical to a single-worker run, whatever the chunking.

The video's frame table (`VideoInfo`, 8 bytes per frame of the whole video: the chunk's seek
may fall back to decoding from the start) is not part of a chunk's task but its own argument,
`Shared` by all the video's chunks, so a Ray pool sends it once (vigil/jobs/shared.py).
"""

from __future__ import annotations

import logging
import os
import resource
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from av.video.reformatter import VideoReformatter

from vigil.batch.appearance import describe
from vigil.batch.engines import Engine
from vigil.batch.headpose import LandmarkLayout, pose_and_translation
from vigil.batch.landmarker import Located
from vigil.batch.person import PersonDetector
from vigil.batch.profiling import Profiler, ProfileWindow
from vigil.batch.settings import BatchSettings
from vigil.batch.shots import FORCE_DETECT_SCORE, THUMB_SIZE, FrameSignature, content_score, signature
from vigil.batch.video import FrameReader, VideoInfo
from vigil.batch.worker import worker_models
from vigil.jobs.shared import Shared
from vigil.types import FloatArray, Image

log = logging.getLogger(__name__)

Box = tuple[float, float, float, float]


@dataclass
class FaceObs:
    box: Box  # xyxy, original pixels
    score: float
    landmarks: FloatArray | None  # (P, 2|3) float32, original pixels
    head_pose: tuple[float, float, float] | None  # pitch, yaw, roll degrees
    appearance: FloatArray | None = None  # colour descriptor, on detection frames (relink.py)
    held: bool = False  # box held since the detection frame (landmarks lost): not a new position
    translation: tuple[float, float, float] | None = None  # head position, camera mm (headpose.py)
    blendshapes: FloatArray | None = None  # learned scores (52, landmarker.LEARNED_KEYS order)


@dataclass
class FrameObs:
    frame: int  # 1-based
    decoded: bool
    faces: list[FaceObs] = field(default_factory=list)
    persons: list[tuple[Box, float, str]] = field(default_factory=list)  # fallback objects: box, score, label
    signature: FrameSignature | None = None  # HSV thumbnail for shot boundaries (shots.py)
    timestamp_ms: float | None = None  # presentation time from the first frame's; None: unknown


@dataclass(frozen=True)
class ChunkTask:
    """A chunk's own part of the work; the video's frame table goes beside it (process_chunk)."""

    video: Path
    index: int  # chunk number in the video, 0-based
    first: int
    last: int
    settings: BatchSettings


@dataclass
class ChunkResult:
    video: Path
    index: int
    frames: list[FrameObs]
    layout: LandmarkLayout
    missing: list[int]
    seek_fallbacks: int
    busy_s: float  # wall time spent on this chunk's own frames and their warm-up
    peak_rss_mb: float
    pid: int
    timings: dict[str, float]
    profile: list[ProfileWindow] = field(default_factory=list)  # STEP5_ENABLE_PROFILING: logged by the parent
    cpu_s: float = 0.0  # CPU time of the process over the same span


def detection_start(first: int, every_n: int) -> int:
    """The detection frame at or before `first` (detection frames: 1, 1+N, 1+2N, ...)."""
    return first - (first - 1) % every_n


@dataclass
class _Face:
    box: FloatArray  # xyxy in landmark-image pixels
    score: float
    points: FloatArray | None  # in landmark-image pixels
    anchor: tuple[FloatArray, FloatArray] | None  # (box, points' box) when the face was detected
    appearance: FloatArray | None = None  # until the face is next observed
    held: bool = False
    learned: FloatArray | None = None  # the landmarker's blendshapes for `points`, if it makes them


class FaceFollower:
    """Faces of the current frame: detected every Nth frame, following their landmarks between."""

    def __init__(
        self, engine: Engine, settings: BatchSettings, info: VideoInfo, persons: PersonDetector | None = None
    ) -> None:
        self.engine, self.settings = engine, settings
        self.width, self.height = info.width, info.height
        self.lm_size = _fit(info.width, info.height, settings.landmark_max_width)
        self.det_size = _fit(info.width, info.height, engine.detect_width)
        self.to_orig = info.width / self.lm_size[0]
        self.faces: list[_Face] = []
        self.persons: list[tuple[Box, float, str]] = []
        self._signature: FrameSignature | None = None
        self.timings: dict[str, float] = defaultdict(float)
        self._persons = persons  # the worker's, when the person fallback is on
        # One scaler per conversion, reused for every frame: `frame.to_ndarray(...)` would set up a
        # new one (and its thread pool) per call, which costs more than the conversion at 360p.
        self._scalers: dict[tuple[tuple[int, int], str], VideoReformatter] = {}

    def reset(self) -> None:
        self.faces, self.persons = [], []
        self._signature = None

    def step(self, number: int, frame: Any) -> FrameObs:
        detecting = (number - 1) % self.settings.detect_every_n == 0
        # A likely cut is a detection frame too: followed landmarks must not cross into a new shot.
        # This depends on two consecutive decoded frames only, so chunking changes nothing.
        previous, current = self._signature, self._thumbnail(frame)
        self._signature = current
        if previous is not None and content_score(previous, current) >= FORCE_DETECT_SCORE:
            detecting = True
        rgb: Image | None = None
        if detecting or self.faces:
            rgb = self._image(frame, self.lm_size, "rgb24")
        if detecting:
            bgr = self._detection_image(frame, rgb)
            self._detect(bgr, rgb)
            self.persons = self._detect_persons(bgr) if not self.faces else []
        elif self.faces and rgb is not None:
            self._follow(rgb)
        return FrameObs(
            number, True, [self._observe(face) for face in self.faces], list(self.persons), current
        )

    def _thumbnail(self, frame: Any) -> FrameSignature:
        thumb = self._image(frame, THUMB_SIZE, "rgb24")
        return signature(thumb)

    def _image(self, frame: Any, size: tuple[int, int], fmt: str) -> Image:
        start = time.perf_counter()
        scaler = self._scalers.get((size, fmt))
        if scaler is None:
            scaler = self._scalers[(size, fmt)] = VideoReformatter()
        # threads=1: the workers already fill the cores (same pixels as any thread count).
        if size == (self.width, self.height):
            converted = scaler.reformat(frame, format=fmt, threads=1)
        else:
            converted = scaler.reformat(
                frame, width=size[0], height=size[1], format=fmt, interpolation="AREA", threads=1
            )
        image = converted.to_ndarray()
        self.timings["convert"] += time.perf_counter() - start
        return np.asarray(image)

    def _detection_image(self, frame: Any, rgb: Image | None) -> Image:
        if rgb is not None and self.det_size == self.lm_size:
            start = time.perf_counter()
            bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
            self.timings["convert"] += time.perf_counter() - start
            return np.asarray(bgr)
        return self._image(frame, self.det_size, "bgr24")

    def _detect(self, bgr: Image, rgb: Image | None) -> None:
        assert rgb is not None
        start = time.perf_counter()
        found, meshes = self.engine.detect(bgr)
        self.timings["detect"] += time.perf_counter() - start
        factor = self.lm_size[0] / self.det_size[0]
        min_side = self.settings.landmarks_min_face_px / self.to_orig
        self.faces = []
        for row in range(len(found)):
            box = found.xyxy[row] * factor
            keypoints = None if found.landmarks is None else found.landmarks[row] * factor
            points: FloatArray | None = None
            learned: FloatArray | None = None
            if max(box[2] - box[0], box[3] - box[1]) >= min_side:
                if meshes is not None:
                    points = meshes[row] * np.float32(factor)
                else:
                    located = self._locate(rgb, self.engine.landmarker.roi_from_detection(box, keypoints))
                    if located is not None:
                        points, learned = located.points, located.blendshapes
            anchor = None if points is None else (box.copy(), _points_box(points))
            self.faces.append(
                _Face(box, float(found.score[row]), points, anchor, describe(rgb, box), learned=learned)
            )

    def _follow(self, rgb: Image) -> None:
        for face in self.faces:
            if face.points is None or face.anchor is None:
                face.held = True  # no landmarks: the box is held until the next detection frame
                continue
            landmarker = self.engine.landmarker
            located = self._locate(rgb, landmarker.roi_from_points(face.points))
            if located is None and landmarker.retry_held_region:  # the detector's region, held
                located = self._locate(rgb, landmarker.roi_from_detection(face.anchor[0], None))
            points = face.points = None if located is None else located.points
            face.learned = None if located is None else located.blendshapes
            if points is not None:
                face.box = _moved_box(face.anchor, _points_box(points))
            else:
                face.held = True

    def _locate(self, rgb: Image, roi: Any) -> Located | None:
        start = time.perf_counter()
        points = self.engine.landmarker.locate(rgb, roi)
        self.timings["landmarks"] += time.perf_counter() - start
        return points

    def _observe(self, face: _Face) -> FaceObs:
        box = tuple(float(v) * self.to_orig for v in face.box)
        points = None if face.points is None else (face.points * np.float32(self.to_orig)).astype(np.float32)
        pose = translation = None
        if points is not None:
            start = time.perf_counter()
            try:
                pose, translation = pose_and_translation(points, self.engine.layout, self.width, self.height)
            except ValueError:  # degenerate landmarks: no pose rather than a failed chunk
                pose = None
            self.timings["head_pose"] += time.perf_counter() - start
        appearance, face.appearance = face.appearance, None
        return FaceObs(
            _clip_box(box, self.width, self.height),
            face.score,
            points,
            pose,
            appearance,
            face.held,
            translation=translation,
            blendshapes=None if points is None else face.learned,
        )

    def _detect_persons(self, bgr: Image) -> list[tuple[Box, float, str]]:
        if self._persons is None:
            return []
        start = time.perf_counter()
        boxes, scores, labels = self._persons.detect(bgr)
        self.timings["persons"] += time.perf_counter() - start
        factor = self.width / self.det_size[0]
        return [
            (_clip_box(tuple(float(v) * factor for v in box), self.width, self.height), float(score), label)
            for box, score, label in zip(boxes, scores, labels, strict=True)
        ]


def _fit(width: int, height: int, max_width: int) -> tuple[int, int]:
    if width <= max_width:
        return width, height
    # Even sizes keep FFmpeg's scaler on its fast paths.
    return max_width - max_width % 2, max(2, round(height * max_width / width / 2) * 2)


def _points_box(points: FloatArray) -> FloatArray:
    xy = points[:, :2]
    return np.concatenate([xy.min(axis=0), xy.max(axis=0)]).astype(np.float32)


def _moved_box(anchor: tuple[FloatArray, FloatArray], now: FloatArray) -> FloatArray:
    """The detected box carried along with the landmarks: same offset and relative size to the
    landmarks' box as on the detection frame (keeps the detector's box convention)."""
    box0, ref0 = anchor
    ref_size = max(float(ref0[2] - ref0[0]), float(ref0[3] - ref0[1]), 1e-3)
    scale = max(float(now[2] - now[0]), float(now[3] - now[1])) / ref_size
    ref_centre, now_centre = (ref0[:2] + ref0[2:]) / 2, (now[:2] + now[2:]) / 2
    centre = now_centre + ((box0[:2] + box0[2:]) / 2 - ref_centre) * scale
    half = (box0[2:] - box0[:2]) / 2 * scale
    return np.concatenate([centre - half, centre + half]).astype(np.float32)


def _clip_box(box: tuple[float, ...], width: int, height: int) -> Box:
    x0, y0, x1, y1 = box
    x0, x1 = min(max(x0, 0.0), width), min(max(x1, 0.0), width)
    y0, y1 = min(max(y0, 0.0), height), min(max(y1, 0.0), height)
    return x0, y0, max(x0, x1), max(y0, y1)


def shared_chunk(task: ChunkTask, info: Shared[VideoInfo]) -> ChunkResult:
    """`process_chunk` as a pool runs it: the frame table shared by the video's chunks."""
    return process_chunk(task, info.value)


def process_chunk(task: ChunkTask, info: VideoInfo) -> ChunkResult:
    """Observations for frames `task.first..task.last` (one per frame, in order); `info`: the
    video's frame table."""
    start, cpu_start = time.perf_counter(), time.process_time()
    settings = task.settings
    models = worker_models()
    engine = models.engine(settings)
    persons = models.person_detector(settings) if settings.enable_object_detection else None
    follower = FaceFollower(engine, settings, info, persons)
    warm = detection_start(task.first, settings.detect_every_n)
    reader = FrameReader(info, warm, task.last, threads=settings.decode_threads)
    frames: list[FrameObs] = []
    profiler = Profiler(follower.timings) if settings.enable_profiling else None
    for number, frame in reader.frames():
        if frame is None:
            follower.reset()  # the next frames know nothing until the next detection frame
            obs = FrameObs(number, decoded=False)
        else:
            obs = follower.step(number, frame)
        if number >= task.first:
            ticks = int(info.pts[number - 1]) - int(info.pts[0])
            obs.timestamp_ms = float(ticks * info.time_base * 1000)
            frames.append(obs)
            if profiler is not None:
                profiler.frame_done(number)
    busy = time.perf_counter() - start
    return ChunkResult(
        video=task.video,
        index=task.index,
        frames=frames,
        layout=engine.layout,
        missing=[n for n in reader.stats.missing if n >= task.first],
        seek_fallbacks=reader.stats.seek_fallbacks,
        busy_s=busy,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        pid=os.getpid(),
        timings=dict(follower.timings),
        profile=[] if profiler is None else profiler.finish(task.last),
        cpu_s=time.process_time() - cpu_start,
    )
