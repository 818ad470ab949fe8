"""`anonymize_videos`: faces covered in video files, sound, timing and resolution kept.

Two passes per run. Pass 1 finds face tracks in every input at once with the batch tracker
(parallel chunks, ids stitched across chunk boundaries and ended at shot cuts; faces.py). Pass 2
renders each video in turn (render.py): the tracks' boxes, filled between detections and held
around them (fill.py), are covered on every frame; the audio is copied as it is. Outputs are
`<stem>_anonymized.mp4` plus a `<stem>_anonymized.json` sidecar, written under hidden temporary
names in the output folder and renamed into place, so a file with the final name is complete.
Inputs whose output exists are skipped unless `force`; an input that cannot be read fails alone.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from vigil.anonymize.faces import VideoFaces, find_faces, tracking_settings
from vigil.anonymize.fill import FaceSchedule
from vigil.anonymize.render import FrameHook, RenderCancelled, RenderJob, RenderStats, render
from vigil.anonymize.report import (
    AnonymizedVideo,
    AnonymizeReport,
    AudioKept,
    FaceCoverage,
    OptionsUsed,
    Timings,
    TrackSummary,
)
from vigil.anonymize.styles import FaceRegion
from vigil.batch.progress import BatchProgress
from vigil.batch.video import VideoInfo, probe_video
from vigil.config import VigilSettings
from vigil.errors import ConfigError, InputError, VigilError
from vigil.types import Image

__all__ = ["AnonymizeProgress", "AnonymizeReport", "anonymize_videos", "output_path", "sidecar_path"]

log = logging.getLogger(__name__)
OUTPUT_SUFFIX = "_anonymized.mp4"
SIDECAR_SUFFIX = "_anonymized.json"
# Share of the overall progress taken by the face pass (it costs about as much as rendering).
FACE_PASS_SHARE = 0.5

Phase = Literal["faces", "render", "done"]


@dataclass(frozen=True)
class AnonymizeProgress:
    phase: Phase
    video: Path | None  # the video being rendered (phase "render")
    frames_done: int  # of that video, or of all videos in the face pass
    total_frames: int
    overall: float  # 0..1


def output_path(video: Path, out_dir: Path | None) -> Path:
    return (out_dir if out_dir is not None else video.parent) / f"{video.stem}{OUTPUT_SUFFIX}"


def sidecar_path(video: Path, out_dir: Path | None) -> Path:
    return (out_dir if out_dir is not None else video.parent) / f"{video.stem}{SIDECAR_SUFFIX}"


def anonymize_videos(
    inputs: Sequence[Path],
    out_dir: Path | None,
    settings: VigilSettings,
    on_progress: Callable[[AnonymizeProgress], None] | None = None,
    cancel: threading.Event | None = None,
    *,
    force: bool = False,
    workers: int | None = None,
) -> AnonymizeReport:
    """Anonymise video files (paths of videos, e.g. from `vigil.batch.discover.discover_videos`).

    Raises InputError when two inputs would write the same output, ModelError/ConfigError before
    any work when the face engine cannot run; per-input problems land in `report.failed`. A set
    `cancel` stops the run: finished outputs stay, nothing half-written does."""
    cancel = cancel or threading.Event()
    report = AnonymizeReport()
    todo = _pending(inputs, out_dir, force, report)
    if not todo:
        return report
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    options = settings.anonymize
    batch = tracking_settings(settings.track, options.faces, workers)
    hook, close_hook, persons_style = _person_hook(settings)
    try:
        with tempfile.TemporaryDirectory(prefix="vigil-anonymize-") as work:
            started = time.perf_counter()
            found, batch_report = find_faces(
                todo,
                batch,
                Path(work),
                extra_engines=options.faces.extra_engines,
                with_hulls=options.faces.style == "mask",
                on_progress=_face_progress(on_progress),
                cancel=cancel,
            )
            faces_s = time.perf_counter() - started
        for video, reason in batch_report.failed.items():
            report.failed[video] = reason
        for video, reason in batch_report.partial.items():
            report.failed[video] = f"cannot read the whole file: {reason}"
        renderable = [video for video in todo if video in found]
        total = sum(found[video].total_frames for video in renderable)
        done_frames = 0
        for video in renderable:
            if cancel.is_set():
                break
            used = OptionsUsed(
                faces=options.faces,
                video=options.video,
                strip_metadata=options.strip_metadata,
                persons=persons_style,
                workers=batch.cpu_workers,
            )
            progress = _render_progress(on_progress, video, found[video].total_frames, done_frames, total)
            try:
                sidecar = _anonymize_one(found[video], out_dir, used, hook, faces_s, progress, cancel)
            except RenderCancelled:
                break
            except (VigilError, OSError, ValueError) as exc:
                report.failed[video] = str(exc)
                log.error("%s failed: %s", video.name, exc)
            else:
                report.done[video] = Path(sidecar.output)
                report.sidecars[video] = sidecar
            done_frames += found[video].total_frames
    finally:
        close_hook()
    if on_progress is not None and not cancel.is_set():
        on_progress(AnonymizeProgress("done", None, 0, 0, 1.0))
    return report


def _pending(
    inputs: Sequence[Path], out_dir: Path | None, force: bool, report: AnonymizeReport
) -> list[Path]:
    owners: dict[Path, Path] = {}
    todo = []
    for video in inputs:
        target = Path(os.path.abspath(output_path(video, out_dir)))
        other = owners.setdefault(target, video)
        if other != video:
            raise InputError(
                f"{other} and {video} would both write {target}; rename one of them or use another --out-dir"
            )
        if target.is_file() and not force:
            report.skipped[video] = target
        else:
            todo.append(video)
    return todo


def _anonymize_one(
    faces: VideoFaces,
    out_dir: Path | None,
    options: OptionsUsed,
    hook: FrameHook | None,
    faces_s: float,
    on_frame: Callable[[int], None],
    cancel: threading.Event,
) -> AnonymizedVideo:
    video = faces.video
    info = probe_video(video)
    if info.truncated_frames:
        raise InputError(
            f"{video}: truncated file: its index lists {info.expected_frames} frames but only "
            f"{info.packets} can be read"
        )
    schedule = FaceSchedule(faces.tracks, options.faces.hold_frames, faces.total_frames, faces.shot_cuts)
    target, sidecar_target = output_path(video, out_dir), sidecar_path(video, out_dir)
    with _temporary(target) as temporary, _temporary(sidecar_target) as temporary_sidecar:
        job = RenderJob(
            video, temporary, info, schedule, options.faces, options.video, options.strip_metadata, hook
        )
        stats = render(job, on_frame, cancel)
        if stats.frames != info.total_frames:
            raise InputError(
                f"{video}: decoded {stats.frames} frames where its index has {info.total_frames} "
                "(corrupt file?)"
            )
        sidecar = _sidecar(faces, info, target, options, stats, schedule, faces_s)
        temporary_sidecar.write_text(sidecar.model_dump_json(indent=2) + "\n", encoding="utf-8")
        os.replace(temporary_sidecar, sidecar_target)
        os.replace(temporary, target)  # last: a file with the final name is complete
    log.info("%s: %d frames -> %s (%.1f fps)", video.name, stats.frames, target, stats.frames / stats.seconds)
    return sidecar


@contextlib.contextmanager
def _temporary(target: Path) -> Iterator[Path]:
    """A hidden temporary beside `target` (same filesystem: the rename is atomic), removed unless
    the caller renamed it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=target.suffix)
    os.close(fd)
    path = Path(name)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _sidecar(
    faces: VideoFaces,
    info: VideoInfo,
    target: Path,
    options: OptionsUsed,
    stats: RenderStats,
    schedule: FaceSchedule,
    faces_s: float,
) -> AnonymizedVideo:
    return AnonymizedVideo(
        input=str(faces.video),
        output=str(target),
        options=options,
        frames=stats.frames,
        input_frames=info.total_frames,
        fps=round(info.fps, 4),
        width=info.width,
        height=info.height,
        rotation=stats.rotation,
        audio=None
        if stats.audio_codec is None
        else AudioKept(codec=stats.audio_codec, packets=stats.audio_packets),
        faces=FaceCoverage(
            detector=faces.engine,
            tracks=len(faces.tracks),
            detections=faces.detections,
            filled_boxes=schedule.filled_count(),
            frames_with_faces=stats.frames_with_faces,
            max_faces_per_frame=stats.max_faces,
            mean_faces_per_frame=round(stats.boxes / max(stats.frames, 1), 3),
            shot_cuts=faces.shot_cuts,
        ),
        tracks=[
            TrackSummary(
                id=t.track_id, first_frame=t.frames[0], last_frame=t.frames[-1], detections=len(t.frames)
            )
            for t in faces.tracks
        ],
        metadata_removed=stats.removed,
        timings=Timings(
            faces_s=round(faces_s, 3),
            render_s=round(stats.seconds, 3),
            render_fps=round(stats.frames / max(stats.seconds, 1e-9), 1),
        ),
    )


def _face_progress(
    on_progress: Callable[[AnonymizeProgress], None] | None,
) -> Callable[[BatchProgress], None] | None:
    if on_progress is None:
        return None

    def forward(batch: BatchProgress) -> None:
        done = sum(video.frames_done for video in batch.videos)
        total = sum(video.total_frames for video in batch.videos)
        on_progress(AnonymizeProgress("faces", None, done, total, batch.overall * FACE_PASS_SHARE))

    return forward


def _render_progress(
    on_progress: Callable[[AnonymizeProgress], None] | None, video: Path, frames: int, before: int, total: int
) -> Callable[[int], None]:
    def forward(done: int) -> None:
        if on_progress is not None and (done % 10 == 0 or done == frames):
            overall = FACE_PASS_SHARE + (1 - FACE_PASS_SHARE) * (before + done) / max(total, 1)
            on_progress(AnonymizeProgress("render", video, done, frames, min(overall, 0.99)))

    return forward


def _person_hook(settings: VigilSettings) -> tuple[FrameHook | None, Callable[[], None], str]:
    """The persons/clothes pass (`PersonAnonymizer`, vigil/anonymize/persons.py) as a per-frame
    hook, when `anonymize.persons.style` asks for it; it runs before the faces are covered (it
    samples the face's skin to keep it out of the clothes)."""
    options = settings.anonymize.persons
    if options.style == "none":
        return None, lambda: None, "none"
    try:  # imported by name: the persons module is optional for faces-only runs
        module: Any = importlib.import_module("vigil.anonymize.persons")
    except ImportError as exc:
        raise ConfigError(
            f"anonymize.persons.style {options.style!r} needs vigil.anonymize.persons: {exc}"
        ) from exc
    anonymizer = module.PersonAnonymizer(options, settings.model_search_dirs())

    def hook(image: Image, faces: Sequence[FaceRegion], tracks: Sequence[int], frame: int) -> Image:
        del frame
        result: Image = anonymizer.apply(image, faces, list(tracks))  # a person's colour follows its track
        return result

    return hook, anonymizer.close, options.style
