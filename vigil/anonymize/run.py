"""`anonymize_videos`: faces covered in video files, sound, timing and resolution kept.

Two passes per run. Pass 1 finds face tracks in every input at once with the batch tracker
(parallel chunks, ids stitched across chunk boundaries and ended at shot cuts; faces.py). Pass 2
renders each video in turn (render.py), in chunks of frames spread over worker processes
(chunks.py; the same chunks and the same bytes whatever the worker count): the tracks' boxes,
filled between detections and held around them (fill.py), are covered on every frame, after the
persons pass when one is asked for; the audio is copied as it is (mux.py). Outputs are
`<stem>_anonymized.mp4` plus a `<stem>_anonymized.json` sidecar, written under hidden temporary
names in the output folder and renamed into place, so a file with the final name is complete.
Inputs whose output exists are skipped unless `force`; an input that cannot be read fails alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vigil.anonymize.chunks import ChunkWorkers, PersonsSpec
from vigil.anonymize.faces import VideoFaces, find_faces, tracking_settings
from vigil.anonymize.fill import FaceSchedule
from vigil.anonymize.render import ChunkRunner, RenderCancelled, RenderJob, RenderStats, plan_render, render
from vigil.anonymize.report import (
    AnonymizedVideo,
    AnonymizeReport,
    AudioKept,
    FaceCoverage,
    OptionsUsed,
    Timings,
    TrackSummary,
)
from vigil.batch.planning import planned_workers
from vigil.batch.progress import BatchProgress
from vigil.batch.video import VideoInfo, probe_video
from vigil.config import VigilSettings
from vigil.errors import InputError, VigilError
from vigil.jobs.workers import chunk_executor, pool_capacity, use_executor
from vigil.output_files import output_temporary, remove_stale_temporaries
from vigil.work_dirs import work_dir

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
    chunk_frames: int | None = None,
) -> AnonymizeReport:
    """Anonymise video files (paths of videos, e.g. from `vigil.batch.discover.discover_videos`).

    `workers` (default `track.cpu_workers`; when that was not set either, planned from the work,
    vigil/batch/planning.py) runs both passes' chunks; 1 renders in this process. `chunk_frames`:
    frames per render chunk (default: planned from each video's frame count, render.plan_render);
    the output does not depend on the worker count.

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
    persons = options.persons
    spec = None if persons.style == "none" else PersonsSpec(persons, settings.model_search_dirs())
    executor = chunk_executor(settings.jobs)  # local processes or Ray, for both passes
    with work_dir("vigil-anonymize-") as work, use_executor(executor):
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
    used = OptionsUsed(
        faces=options.faces,
        video=options.video,
        strip_metadata=options.strip_metadata,
        persons=persons.style,
        workers=batch.cpu_workers,
    )
    was_set = "cpu_workers" in batch.model_fields_set
    capacity = batch.cpu_workers if was_set or not executor.is_ray else pool_capacity(executor)
    render_workers = _render_workers(capacity, was_set, found, chunk_frames)
    with ChunkWorkers(render_workers, spec, executor) as renderer:
        for video in renderable:
            if cancel.is_set():
                break
            progress = _render_progress(on_progress, video, found[video].total_frames, done_frames, total)
            try:
                sidecar = _anonymize_one(
                    found[video], out_dir, used, renderer.run, faces_s, progress, cancel, chunk_frames
                )
            except RenderCancelled:
                break
            except (VigilError, OSError, ValueError) as exc:
                report.failed[video] = str(exc)
                log.error("%s failed: %s", video.name, exc)
            else:
                report.done[video] = Path(sidecar.output)
                report.sidecars[video] = sidecar
            done_frames += found[video].total_frames
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


def _render_workers(
    requested: int, was_set: bool, found: dict[Path, VideoFaces], chunk_frames: int | None
) -> int:
    """Worker processes for rendering: as asked when the count was set, else as many as the work
    repays (planning.py); one (this process) when no video has two chunks."""
    if not any(len(plan_render(faces.total_frames, chunk_frames)) > 1 for faces in found.values()):
        return 1
    return requested if was_set or requested <= 1 else planned_workers(requested, list(found))


def _anonymize_one(
    faces: VideoFaces,
    out_dir: Path | None,
    options: OptionsUsed,
    runner: ChunkRunner,
    faces_s: float,
    on_frame: Callable[[int], None],
    cancel: threading.Event,
    chunk_frames: int | None,
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
            video,
            temporary,
            info,
            schedule,
            options.faces,
            options.video,
            options.strip_metadata,
            chunk_frames=chunk_frames,
        )
        stats = render(job, on_frame, cancel, runner)
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
    remove_stale_temporaries(target, [target.suffix])  # a killed run's, not a running one's
    fd, path = output_temporary(target, target.suffix)  # locked while this run writes it
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)


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
    last = -1

    def forward(done: int) -> None:
        nonlocal last
        if on_progress is not None and (done - last >= 10 or done == frames):
            last = done
            overall = FACE_PASS_SHARE + (1 - FACE_PASS_SHARE) * (before + done) / max(total, 1)
            on_progress(AnonymizeProgress("render", video, done, frames, min(overall, 0.99)))

    return forward
