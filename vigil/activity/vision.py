"""Visual cues of the activity classifier: one `VisualSample` per sampled frame.

`VisualCueExtractor` owns the MediaPipe Tasks models and is fed BGR frames in time order:
- pose (`pose_landmarker_full.task`, every sample): the person's box, lying, where the hands are;
- face (`face_landmarker.task` with blendshapes, every sample with a head): eyes closed, jaw
  open, head pitch; on a crop around the pose's head, so small faces are found too;
- hands (`hand_landmarker.task`): only when a pose hand is near the face or there is a face but
  no body, and at most every `hands_every` samples (they matter for the ear and the mouth);
- objects (COCO detector, `vigil.batch.objects`): every `objects_every` samples, the result is
  kept in between (cups and books do not move every half second);
- motion: grey-level change of the person's box and of the whole frame since the last sample,
  and the limbs' motion against the torso (`limbs.py`, blind to a moving camera).

`visual_samples` decodes a file once, in order, and samples it every `interval_s` seconds.
Measured costs per sample are in `StageTimes` (docs/activity.md quotes them)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import av.error
import cv2
import numpy as np

from vigil.activity.cues import PersonCues, VisualSample
from vigil.activity.face_cues import Face, FaceReader, head_crop
from vigil.activity.hands_cues import HAND_LANDMARKER_FILENAME, HandFinder, HandPlaces, Landmarks, hand_places
from vigil.activity.hands_cues import near_face as pose_hand_near_face
from vigil.activity.limbs import LimbTracker
from vigil.activity.media_times import media_times
from vigil.activity.motion import MotionMeter
from vigil.activity.objects_near import Detected, near_objects
from vigil.activity.pose import EARS, MOUTH, POSE_LANDMARKER_FILENAME, Body, PoseEstimator, lying_score
from vigil.batch.landmarker import FACE_LANDMARKER_FILENAME
from vigil.batch.objects import COCO_SSD_FILENAME, MediaPipeObjectDetector, ObjectFilter
from vigil.errors import ModelError, SourceUnsupported, VigilError, media_reason
from vigil.mediapipe_lazy import import_mediapipe
from vigil.types import FloatArray, Image

__all__ = [
    "StageTimes",
    "VisionCancelled",
    "VisionModelFiles",
    "VisionRates",
    "VisualCueExtractor",
    "visual_samples",
]

Box = tuple[float, float, float, float]
# A decode that ends this much before the frames the file lists is a truncated file (a variable
# frame rate or a last frame a little off the index is not).
TRUNCATED_SLACK_S = 1.0


class VisionCancelled(VigilError):
    """`visual_samples` stopped because its cancel event was set."""


@dataclass(frozen=True)
class VisionRates:
    """How often the expensive models run, in samples (0 = never)."""

    objects_every: int = 4  # COCO detector, ~21 ms; its objects are kept until the next run
    hands_every: int = 1  # HandLandmarker, ~23 ms, and only when a hand may be near the face
    num_poses: int = 1  # bodies the pose model follows; more = a detector run on every sample
    # While the person's box barely changes (grey-level motion below `still_motion`; webcam noise
    # is ~0.01), the last body is reused for up to this many samples in a row instead of running
    # the pose model (~35 ms): a person asleep or idle costs a third as much. 0 = pose every sample.
    pose_reuse_still: int = 3
    still_motion: float = 0.02
    object_min_score: float = 0.4
    person_min_score: float = 0.5  # COCO "person" boxes counted in `people`

    def __post_init__(self) -> None:
        if min(self.objects_every, self.hands_every, self.pose_reuse_still) < 0 or self.num_poses < 1:
            raise ValueError("rates must be >= 0 (0 = never) and num_poses >= 1")


@dataclass
class StageTimes:
    """Milliseconds spent per stage since the extractor started, and how often each model ran."""

    samples: int = 0
    total_ms: float = 0.0
    pose_ms: float = 0.0
    pose_runs: int = 0
    face_ms: float = 0.0
    hands_ms: float = 0.0
    objects_ms: float = 0.0
    motion_ms: float = 0.0
    face_runs: int = 0
    hands_runs: int = 0
    objects_runs: int = 0

    def per_sample(self) -> dict[str, float]:
        n = max(self.samples, 1)
        return {
            "total": self.total_ms / n,
            "pose": self.pose_ms / n,
            "face": self.face_ms / n,
            "hands": self.hands_ms / n,
            "objects": self.objects_ms / n,
            "motion": self.motion_ms / n,
        }


@dataclass
class _Clock:
    start: float = field(default_factory=time.perf_counter)

    def lap(self) -> float:
        now = time.perf_counter()
        elapsed, self.start = (now - self.start) * 1000.0, now
        return elapsed


def find_model(model_dirs: Sequence[Path], filename: str, name: str) -> Path:
    """The first `filename` in `model_dirs`; ModelError saying how to get it otherwise."""
    for directory in model_dirs:
        if (directory / filename).is_file():
            return directory / filename
    searched = ", ".join(str(d) for d in model_dirs) or "no directory"
    raise ModelError(f"{filename} not found in {searched}: run `vigil models fetch {name}`")


@dataclass(frozen=True)
class VisionModelFiles:
    """The model files an extractor loads (hands and objects only when their rate is not 0)."""

    pose: Path
    face: Path
    hands: Path | None
    objects: Path | None

    @staticmethod
    def find(model_dirs: Sequence[Path], rates: VisionRates) -> VisionModelFiles:
        """ModelError saying how to get a missing one."""
        return VisionModelFiles(
            pose=find_model(model_dirs, POSE_LANDMARKER_FILENAME, "pose_landmarker_full"),
            face=find_model(model_dirs, FACE_LANDMARKER_FILENAME, "face_landmarker"),
            hands=find_model(model_dirs, HAND_LANDMARKER_FILENAME, "hand_landmarker")
            if rates.hands_every
            else None,
            objects=find_model(model_dirs, COCO_SSD_FILENAME, "coco_ssd_mobilenet")
            if rates.objects_every
            else None,
        )


class VisualCueExtractor:
    """Frames in, `VisualSample`s out, in time order. Not thread-safe: one per camera or file.

    `independent_frames=True` runs the pose model in IMAGE mode, for pictures that do not follow
    each other (single-frame analysis: call `reset` before each)."""

    def __init__(
        self, model_dirs: Sequence[Path], rates: VisionRates | None = None, independent_frames: bool = False
    ) -> None:
        self.rates = rates or VisionRates()
        self.stats = StageTimes()
        files = VisionModelFiles.find(model_dirs, self.rates)
        import_mediapipe()  # before the models import it: ~1 s less to start a worker process
        self._pose = PoseEstimator(files.pose, num_poses=self.rates.num_poses, independent=independent_frames)
        self._face = FaceReader(files.face)
        self._hands = HandFinder(files.hands) if files.hands else None
        self._objects_model = (
            MediaPipeObjectDetector(
                files.objects,
                ObjectFilter(min_score=self.rates.object_min_score, min_side=0.03, max_aspect=4.0),
            )
            if files.objects
            else None
        )
        self._motion = MotionMeter()
        self._limbs = LimbTracker()
        self._bodies: list[Body] = []  # the last sample's bodies and person region (fractions)
        self._region: tuple[float, float, float, float] | None = None
        self._reused = 0
        self._objects: list[Detected] = []
        self._persons: list[Box] = []
        self._count = 0
        self.last_hands: list[FloatArray] = []  # for drawing: the hands of the last sample
        self.last_body: Body | None = None
        self.last_face: Face | None = None

    def sample(self, image: Image, t: float) -> VisualSample:
        """The cues of one BGR frame at `t` seconds (later than the previous call's)."""
        clock = _Clock()
        started = clock.start
        height, width = image.shape[:2]
        rgb = np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        self._motion.measure(image)
        if self._still():
            bodies, self._reused = self._bodies, self._reused + 1
        else:
            bodies, self._reused = self._pose.bodies(rgb, t), 0
            self.stats.pose_runs += 1
        body = max(bodies, key=lambda b: _area(b.box()), default=None)
        self.stats.pose_ms += clock.lap()

        if self.rates.objects_every and self._count % self.rates.objects_every == 0:
            self._detect_objects(image)
        self.stats.objects_ms += clock.lap()

        face = self._read_face(rgb, body)
        self.stats.face_ms += clock.lap()

        where = _landmarks(body, face)
        pose_hands = body.hands() if body is not None else []
        found_hands: list[FloatArray] = []
        due = self._hands is not None and self._count % self.rates.hands_every == 0
        if due and where is not None and (body is None or pose_hand_near_face(pose_hands, where)):
            assert self._hands is not None
            found_hands = self._hands.hands(rgb, _around_face(where, (width, height)))
            self.stats.hands_runs += 1
        places = hand_places([*pose_hands, *found_hands], where) if where is not None else HandPlaces()
        self.stats.hands_ms += clock.lap()

        box = _person_box(body, face, self._persons, (width, height))
        region = None if box is None else (box[0] / width, box[1] / height, box[2] / width, box[3] / height)
        motion, scene_motion = self._motion.region(region), self._motion.scene()
        limb_motion = self._limbs.update(body, t)
        self.stats.motion_ms += clock.lap()

        person = None
        if box is not None and region is not None:
            person = PersonCues(
                box=region,
                pose_visible=body is not None,
                lying=lying_score(body) if body is not None else 0.0,
                hand_at_ear=places.at_ear,
                hand_at_mouth=places.at_mouth,
                hands_in_front=places.in_front,
                hands_visible=min(2, max(len(pose_hands), len(found_hands))),
                face_visible=face is not None,
                eyes_closed=None if face is None else face.eyes_closed,
                head_pitch=None if face is None else face.head_pitch,
                jaw_open=None if face is None else face.jaw_open,
                motion=motion,
                objects=near_objects(self._objects, box, (width, height)),
                limb_motion=limb_motion,
                face_px=None if face is None else face.box()[3] - face.box()[1],
            )
        people = max(len(bodies), len(self._persons), 1 if person is not None else 0)
        self._count += 1
        self.last_hands, self.last_body, self.last_face = found_hands, body, face
        self._bodies, self._region = bodies, region
        self.stats.samples += 1
        self.stats.total_ms += (time.perf_counter() - started) * 1000.0
        return VisualSample(t=t, people=people, person=person, scene_motion=scene_motion)

    def warm_up(self, image: Image) -> None:
        """Only what the next sample compares with: this frame becomes the motion meter's previous
        one (the models run from the next sample on, as at the start of a file)."""
        self._motion.measure(image)

    def _still(self) -> bool:
        """Whether the last body can stand for this sample: it exists, it was not reused too
        often, and its box has not changed since (`measure` was called on this frame)."""
        if not self._bodies or self._reused >= self.rates.pose_reuse_still or not self._motion.measured:
            return False
        return self._motion.region(self._region) < self.rates.still_motion

    def reset(self) -> None:
        """Forget the previous samples (motion, limbs, reused body, kept objects): the next frame
        does not follow the last one (another file, another part of it). The pose model's
        tracking too, so a chunk's cues do not depend on the worker that ran it."""
        self._pose.reset()
        self._motion.reset()
        self._limbs = LimbTracker()
        self._bodies, self._region, self._reused = [], None, 0
        self._objects, self._persons, self._count = [], [], 0

    @property
    def objects(self) -> list[Detected]:
        """The objects of the last COCO run (kept between runs)."""
        return list(self._objects)

    def _detect_objects(self, image: Image) -> None:
        assert self._objects_model is not None
        boxes, scores, labels = self._objects_model.detect(image)
        found = [
            Detected(label, (float(b[0]), float(b[1]), float(b[2]), float(b[3])), float(s))
            for b, s, label in zip(boxes, scores, labels, strict=True)
        ]
        self._objects = [d for d in found if d.label != "person"]
        self._persons = [
            d.box for d in found if d.label == "person" and d.score >= self.rates.person_min_score
        ]
        self.stats.objects_runs += 1

    def _read_face(self, rgb: Image, body: Body | None) -> Face | None:
        height, width = rgb.shape[:2]
        if body is None:  # no body: the face landmarker's detector looks at the whole frame
            self.stats.face_runs += 1
            return self._face.read(rgb)
        centre, size = body.head_centre(), body.head_size()
        if centre is None or size is None:  # the head is turned away or out of the frame
            return None
        self.stats.face_runs += 1
        return self._face.read(rgb, head_crop(centre, size, (width, height)))

    def close(self) -> None:
        self._pose.close()
        self._face.close()
        if self._hands is not None:
            self._hands.close()
        if self._objects_model is not None:
            self._objects_model.close()

    def __enter__(self) -> VisualCueExtractor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _area(box: Box) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def _landmarks(body: Body | None, face: Face | None) -> Landmarks | None:
    """The face and torso reference points, from the face mesh when there is one, else the pose."""
    shoulders = hips_y = None
    if body is not None and body.seen(11, 12):
        shoulders = (body.points[11], body.points[12])
        if body.seen(23, 24):
            hips_y = float(body.points[[23, 24], 1].mean())
    if face is not None:
        eyes_y = float(face.points[[33, 263], 1].mean())
        return Landmarks(face.width(), face.mouth(), face.ears(), eyes_y, shoulders, hips_y)
    if body is None or not body.seen(*MOUTH) or not body.seen(*EARS):
        return None
    size = body.head_size()
    if size is None:
        return None
    mouth = np.asarray(body.points[list(MOUTH)].mean(axis=0), np.float64)
    eyes_y = float(body.points[[2, 5], 1].mean())
    return Landmarks(size, mouth, (body.points[7], body.points[8]), eyes_y, shoulders, hips_y)


def _around_face(where: Landmarks, frame_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """A square 5 face widths wide centred below the mouth: hands at the ears, mouth and chest."""
    width, height = frame_size
    half = 2.5 * where.face_width
    cx, cy = float(where.mouth[0]), float(where.mouth[1]) + 0.5 * where.face_width
    return (
        max(0, int(cx - half)),
        max(0, int(cy - half)),
        min(width, int(cx + half)),
        min(height, int(cy + half)),
    )


def _person_box(
    body: Body | None, face: Face | None, persons: Sequence[Box], frame_size: tuple[int, int]
) -> Box | None:
    """The body's box; else the head and shoulders below a face; else the largest COCO person."""
    width, height = frame_size
    if body is not None:
        return body.box()
    if face is not None:
        x0, y0, x1, y1 = face.box()
        w = x1 - x0
        return (
            max(0.0, x0 - w),
            max(0.0, y0 - 0.3 * w),
            min(float(width), x1 + w),
            min(float(height), y1 + 2.0 * w),
        )
    if persons:
        return max(persons, key=_area)
    return None


def visual_samples(
    path: Path,
    interval_s: float,
    *,
    model_dirs: Sequence[Path] | None = None,
    extractor: VisualCueExtractor | None = None,
    rates: VisionRates | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
    start_s: float = 0.0,
    end_s: float | None = None,
    last_frame_s: float | None = None,
    warm_up: bool = False,
) -> list[VisualSample]:
    """The cues of `path` at every multiple of `interval_s` seconds in [start_s, end_s) (the
    decoded frame nearest each time), in one sequential decode from the keyframe before
    `start_s`: two workers given [0, m) and [m, end) sample exactly the times one would (the
    first sample of a part has no motion, having nothing to compare with, unless `warm_up`:
    then the first sampling time's frame only primes the motion meter and gives no sample).
    `on_progress(done, total)` after each sample; VisionCancelled when `cancel` is set;
    SourceUnsupported when the file cannot be read. Uses `extractor` when given (left open),
    else one of its own on the models of `model_dirs` (default: the settings' model folders).
    `last_frame_s`: when the last frame starts, if the caller probed the file already."""
    if interval_s <= 0:
        raise ValueError(f"interval_s must be > 0, got {interval_s}")
    if start_s < 0 or (end_s is not None and end_s <= start_s):
        raise ValueError(f"bad span [{start_s}, {end_s})")
    first = math.ceil(start_s / interval_s - 1e-9)
    last_time = media_times(path).last_frame_s if last_frame_s is None else last_frame_s
    stop = last_time if end_s is None else min(last_time, end_s - 1e-9)
    total = max(0, math.floor(stop / interval_s + 1e-6) - first + 1 - warm_up) if last_time > 0 else 0
    own = extractor is None
    if extractor is None:
        if model_dirs is None:
            from vigil.config import load_settings  # the settings root imports much; only here

            model_dirs = load_settings().model_search_dirs()
        extractor = VisualCueExtractor(model_dirs, rates)
    extractor.reset()  # a given extractor may have seen another file or another part
    samples: list[VisualSample] = []
    try:
        frames = _frames_at(path, interval_s, cancel, first, end_s, last_time)
        if warm_up and (warm := next(frames, None)) is not None:
            extractor.warm_up(warm[1])
        for t, image in frames:
            samples.append(extractor.sample(image, t))
            if on_progress is not None:
                on_progress(len(samples), max(total, len(samples)))
        if on_progress is not None and samples and total != len(samples):
            on_progress(len(samples), len(samples))  # the estimate was off: say it is done
    finally:
        if own:
            extractor.close()
    return samples


def _frames_at(
    path: Path,
    interval_s: float,
    cancel: threading.Event | None,
    first: int = 0,
    end_s: float | None = None,
    last_frame_s: float | None = None,
) -> Iterator[tuple[float, Image]]:
    """(time, BGR image) of the decoded frame nearest each `k * interval_s` (k >= first, before
    `end_s`), each frame at most once; only the chosen frames are converted to BGR.
    SourceUnsupported when the decode ends well before `last_frame_s` (when the file says its last
    frame starts) or `end_s`: a truncated file would otherwise read as a person gone."""
    k = first
    previous: tuple[float, Any] | None = None
    emitted = -1.0
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if first > 0 and stream.time_base is not None:
                # Back to the keyframe before the first time; frames before it are only decoded.
                container.seek(int(first * interval_s / stream.time_base), stream=stream, backward=True)
            for frame in container.decode(stream):
                if cancel is not None and cancel.is_set():
                    raise VisionCancelled(f"analysis of {path.name} cancelled")
                if frame.time is None:
                    continue
                current = (float(frame.time), frame)
                while current[0] >= k * interval_s:
                    target = k * interval_s
                    if end_s is not None and target >= end_s:
                        return
                    chosen = current
                    if previous is not None and target - previous[0] < current[0] - target:
                        chosen = previous
                    if chosen[0] > emitted:
                        emitted = chosen[0]
                        yield chosen[0], chosen[1].to_ndarray(format="bgr24")
                    k += 1
                previous = current
    except av.error.FFmpegError as exc:
        raise SourceUnsupported(f"{path}: cannot decode the video ({media_reason(exc)})") from exc
    _check_whole(path, None if previous is None else previous[0], end_s, last_frame_s, interval_s)


def _check_whole(
    path: Path, reached: float | None, end_s: float | None, last_frame_s: float | None, interval_s: float
) -> None:
    """After the decode ran to the end of the file: raises SourceUnsupported when it stopped more
    than TRUNCATED_SLACK_S (or a sampling interval) before the frames the file lists."""
    expected = last_frame_s if end_s is None else min(end_s, last_frame_s or end_s)
    if expected is None or expected <= 0:
        return
    if reached is None or reached < expected - max(TRUNCATED_SLACK_S, interval_s):
        decoded = 0.0 if reached is None else reached
        listed = max(expected, last_frame_s or 0.0)
        raise SourceUnsupported(
            f"{path}: its video can be decoded only up to {decoded:.1f} s, but it lists frames up to "
            f"{listed:.1f} s (truncated or corrupt file?)"
        )
