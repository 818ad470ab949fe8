"""Pass 1: face tracks over whole files, found by the batch tracker (`vigil track`'s `run_batch`).

The batch tracker already decodes in parallel chunks, detects, tracks, ends tracks at shot cuts and
stitches ids across chunks; here it runs with settings chosen for recall (a detection on every
frame, a lower score threshold, no blendshapes, no object fallback) into a temporary folder, and
its `<stem>_tracking.json` is read back frame by frame through the output models, keeping only
each track's boxes (and, for the mask style, a landmark hull)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from vigil.anonymize.settings import FaceOptions
from vigil.batch.discover import tracking_output_path
from vigil.batch.output import ABSENT, FACE_LABEL, FrameEntry, TrackingMetadata
from vigil.batch.progress import BatchProgress
from vigil.batch.runner import BatchReport, run_batch
from vigil.batch.settings import BatchSettings
from vigil.errors import InputError
from vigil.types import FloatArray

# The writer's layout (vigil/batch/writer.py): indented metadata, then this line, then one
# compact frame entry per line; read line by line so memory does not grow with the file.
_FRAMES_START = '"frames": ['
# The largest `track.landmarks_min_face_px` allowed: faces smaller than this get no landmarks.
NO_LANDMARKS_BELOW_PX = 1000


@dataclass
class TrackBoxes:
    """One track's detections: 1-based frame numbers (increasing) and boxes (x1, y1, x2, y2)."""

    track_id: str
    frames: list[int] = field(default_factory=list)
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)
    hulls: list[FloatArray | None] = field(default_factory=list)  # mask style only, else empty


@dataclass(frozen=True)
class VideoFaces:
    """What pass 1 found in one video."""

    video: Path
    total_frames: int
    fps: float
    tracks: list[TrackBoxes]
    shot_cuts: list[int]  # first frames of new shots (1-based)
    engine: str
    detection_frames: int  # frames with at least one detection

    @property
    def detections(self) -> int:
        return sum(len(track.frames) for track in self.tracks)


def tracking_settings(base: BatchSettings, options: FaceOptions, workers: int | None = None) -> BatchSettings:
    """The batch tracker's settings for anonymisation: every frame detected (following landmarks
    between detections can drift off a fast face), no blendshapes, the person fallback off (a
    person box is not a face box), landmarks exported only when the mask style needs them.

    Other styles need no landmarks at all: faces up to the setting's maximum size get none. The
    tracked boxes are the detector's either way (identical on hamilton and crowd_1080p, 771 and
    740 boxes), and the face pass costs ~2.7x less CPU (hamilton: 6.4 s instead of 17.5 s)."""
    needs_landmarks = options.style == "mask"
    update: dict[str, object] = {
        "detect_every_n": 1,
        "blendshapes_profile": "none",
        "enable_object_detection": False,
        "score_threshold": options.score_threshold,
        "export_verbose_fields": needs_landmarks,
        "enable_profiling": False,
    }
    if not needs_landmarks:
        update["landmarks_min_face_px"] = NO_LANDMARKS_BELOW_PX
    if workers is not None:
        update["cpu_workers"] = workers
    settings = base.model_copy(update=update)
    settings.set_search_dirs(base.models_dirs())
    return settings


def find_faces(
    videos: Sequence[Path],
    settings: BatchSettings,
    work_dir: Path,
    *,
    extra_engines: Sequence[str] = (),
    with_hulls: bool = False,
    on_progress: Callable[[BatchProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> tuple[dict[Path, VideoFaces], BatchReport]:
    """Tracks of every video (the batch tracker's outputs go to `work_dir` and are deleted once
    read). Videos the tracker failed, or could only read in part, are in the report, not in the
    result: an anonymised file must not have frames whose faces were never looked for.

    `extra_engines`: more detectors, each one more pass over the files; their tracks are added to
    the first engine's (ids prefixed with the engine's name), and a video must pass them all."""
    engines = [settings.engine, *(engine for engine in extra_engines if engine != settings.engine)]
    found: dict[Path, VideoFaces] = {}
    report = BatchReport()
    for index, engine in enumerate(engines):
        engine_settings = settings if index == 0 else settings.model_copy(update={"engine": engine})
        engine_settings.set_search_dirs(settings.models_dirs())
        run = run_batch(
            [video for video in videos if video not in report.failed],
            engine_settings,
            out_dir=work_dir,
            force=True,
            on_progress=_share(on_progress, index, len(engines)),
            cancel=cancel,
        )
        report.failed.update(run.failed)
        report.partial.update(run.partial)
        for video in run.done:
            path = tracking_output_path(video, work_dir)
            try:
                if video in run.partial:
                    continue
                faces = read_tracks(path, video, with_hulls=with_hulls, prefix="" if index == 0 else engine)
                found[video] = faces if index == 0 else merge(found[video], faces)
            finally:
                path.unlink(missing_ok=True)
    done = [video for video in videos if video in found and video not in report.failed]
    report.done = done
    return {video: found[video] for video in done}, report


def merge(first: VideoFaces, more: VideoFaces) -> VideoFaces:
    """The tracks of two detectors over the same video (cuts and frame count from the first)."""
    return dataclasses.replace(
        first,
        tracks=sorted([*first.tracks, *more.tracks], key=lambda t: t.frames[0]),
        engine=f"{first.engine}+{more.engine}",
        detection_frames=max(first.detection_frames, more.detection_frames),
    )


def _share(
    on_progress: Callable[[BatchProgress], None] | None, index: int, passes: int
) -> Callable[[BatchProgress], None] | None:
    """Progress of pass `index` of `passes` as a share of the whole face pass."""
    if on_progress is None or passes == 1:
        return on_progress

    def forward(progress: BatchProgress) -> None:
        on_progress(BatchProgress(progress.videos, (index + progress.overall) / passes))

    return forward


def read_tracks(path: Path, video: Path, *, with_hulls: bool = False, prefix: str = "") -> VideoFaces:
    """The face tracks of a `<stem>_tracking.json`, read one frame entry at a time (track ids
    prefixed with `prefix:` when given)."""
    tracks: dict[str, TrackBoxes] = {}
    detection_frames = 0
    lines = _lines(path)
    metadata = _metadata(lines, path)
    for entry in _frames(lines, path):
        faces = [obj for obj in entry.tracked_objects if obj.label == FACE_LABEL]
        detection_frames += bool(faces)
        for face in faces:
            name = f"{prefix}:{face.id}" if prefix else face.id
            track = tracks.setdefault(name, TrackBoxes(name))
            track.frames.append(entry.frame)
            track.boxes.append((face.bbox_xmin, face.bbox_ymin, face.bbox_xmax, face.bbox_ymax))
            if with_hulls:
                points = None if face.landmarks is ABSENT else face.landmarks
                track.hulls.append(_hull(points))
    cuts = (metadata.model_extra or {}).get("shot_cuts") or []  # vigil's runner adds it
    return VideoFaces(
        video=video,
        total_frames=metadata.total_frames,
        fps=metadata.fps,
        tracks=sorted(tracks.values(), key=lambda t: t.frames[0]),
        shot_cuts=[int(cut) for cut in cuts],
        engine=metadata.tracking_engine,
        detection_frames=detection_frames,
    )


def _hull(points: list[list[float]] | None) -> FloatArray | None:
    """The convex hull of a face's landmarks (a few dozen points instead of 478: enough for the
    mask's ellipse, and small enough to keep for every detection)."""
    if not points or len(points) < 5:
        return None
    xy = np.asarray([point[:2] for point in points], np.float32)
    return np.asarray(cv2.convexHull(xy).reshape(-1, 2), np.float32)


def _lines(path: Path) -> Iterator[str]:
    try:
        with path.open(encoding="utf-8") as handle:
            yield from handle
    except OSError as exc:
        raise InputError(f"cannot read the face tracks {path}: {exc}") from exc


def _metadata(lines: Iterator[str], path: Path) -> TrackingMetadata:
    head: list[str] = []
    for line in lines:
        if line.startswith(_FRAMES_START):
            text = "".join(head).strip()
            text = text.removeprefix("{").strip().removeprefix('"metadata":').strip().rstrip(",")
            return TrackingMetadata.model_validate_json(text)
        head.append(line)
    raise InputError(f"{path}: no frames in the face tracks")


def _frames(lines: Iterator[str], path: Path) -> Iterator[FrameEntry]:
    for line in lines:
        text = line.strip().rstrip(",")
        if not text or text == "]}":
            continue
        try:
            yield FrameEntry.model_validate_json(text)
        except ValueError as exc:
            raise InputError(f"{path}: unreadable frame entry: {exc}") from exc
