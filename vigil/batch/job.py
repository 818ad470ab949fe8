"""The `track` job kind: batch tracking of videos (`run_batch`) as a persistent job.

Resumable: `run_batch` skips videos whose output exists and writes outputs atomically, so a run
interrupted by a restart simply starts again (videos finished before it show as skipped, unless
`force`, which redoes them)."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from vigil.batch.pool import WARM_POOL
from vigil.batch.progress import BatchProgress, VideoProgress
from vigil.batch.runner import BatchReport, run_batch
from vigil.batch.settings import BatchSettings
from vigil.jobs.kinds import Finished, JobContext, JobKind, describe_videos
from vigil.jobs.model import ItemProgress, ItemState, JobProgress, JobState

NAME = "track"


class TrackParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    videos: list[str] = Field(min_length=1, description="Video files, absolute paths")
    out_dir: str | None = Field(None, description="Folder of the outputs; None: next to each video")
    force: bool = False
    settings: BatchSettings
    # Where model files are looked up, resolved where the job was submitted: the settings' own
    # search list is not part of their JSON form.
    models_dirs: list[str] = Field(default_factory=list)

    def batch_settings(self) -> BatchSettings:
        settings = self.settings.model_copy()
        settings.set_search_dirs([Path(folder) for folder in self.models_dirs])
        return settings


def track_params(
    videos: list[Path], settings: BatchSettings, out_dir: Path | None, force: bool
) -> TrackParams:
    return TrackParams(
        videos=[str(video.absolute()) for video in videos],
        out_dir=None if out_dir is None else str(out_dir.absolute()),
        force=force,
        settings=settings,
        models_dirs=[str(folder.absolute()) for folder in settings.models_dirs()],
    )


class TrackResult(BaseModel):
    done: list[str]
    skipped: list[str]
    failed: dict[str, str] = Field(description="video -> reason")
    partial: dict[str, str] = Field(
        default_factory=dict, description="done videos with unreadable frames (placeholders): video -> why"
    )


def _item(video: VideoProgress) -> ItemProgress:
    return ItemProgress(
        name=str(video.video),
        state=ItemState(video.state),
        units_done=video.frames_done,
        units_total=video.total_frames,
        steps_done=video.chunks_done,
        steps_total=video.chunks_total,
        error=video.error,
    )


class _Progress:
    """Keeps every listed video (in the job's order) and folds the runner's reports into them."""

    def __init__(self, videos: list[str]) -> None:
        self.items = {video: ItemProgress(name=video) for video in videos}
        self.overall = 0.0

    def update(self, progress: BatchProgress) -> JobProgress:
        for video in progress.videos:
            self.items[str(video.video)] = _item(video)
        self.overall = min(max(progress.overall, 0.0), 0.99)
        return self.snapshot()

    def finish(self, report: BatchReport) -> JobProgress:
        ends = {str(v): ItemState.DONE for v in report.done} | {
            str(v): ItemState.SKIPPED for v in report.skipped
        }
        failed = {str(video): reason for video, reason in report.failed.items()}
        for name, item in self.items.items():
            if name in ends:
                done = (
                    max(item.units_done, item.units_total)
                    if ends[name] == ItemState.DONE
                    else item.units_done
                )
                self.items[name] = item.model_copy(update={"state": ends[name], "units_done": done})
            elif name in failed:
                self.items[name] = item.model_copy(update={"state": ItemState.FAILED, "error": failed[name]})
            elif item.state in (ItemState.PENDING, ItemState.RUNNING):  # the job was cancelled
                self.items[name] = item.model_copy(update={"state": ItemState.CANCELLED, "error": None})
        if len(ends) + len(failed) >= len(self.items):
            self.overall = 1.0
        return self.snapshot()

    def snapshot(self) -> JobProgress:
        return JobProgress(overall=self.overall, items=list(self.items.values()))


def run_track(params: TrackParams, context: JobContext) -> Finished[TrackResult]:
    progress = _Progress(params.videos)
    settings = params.batch_settings()
    with ExitStack() as stack:
        # A server runs job after job: its workers stay warm between them (pool.py).
        executor = None if settings.cpu_workers <= 1 else stack.enter_context(WARM_POOL.use(settings))
        report = run_batch(
            [Path(video) for video in params.videos],
            settings,
            out_dir=None if params.out_dir is None else Path(params.out_dir),
            force=params.force,
            on_progress=lambda update: context.report(progress.update(update)),
            cancel=context.cancel,
            executor=executor,
        )
    context.report(progress.finish(report))
    result = TrackResult(
        done=sorted(str(v) for v in report.done),
        skipped=sorted(str(v) for v in report.skipped),
        failed={str(video): reason for video, reason in report.failed.items()},
        partial={str(video): reason for video, reason in report.partial.items()},
    )
    finished = len(report.done) + len(report.skipped) + len(report.failed)
    if context.cancel.is_set() and finished < len(params.videos):
        return Finished(JobState.CANCELLED, result)
    # A cancel that came after the last video changes nothing.
    return Finished(JobState.FAILED if report.failed else JobState.DONE, result)


def _describe(params: TrackParams) -> str:
    return describe_videos(params.videos)


def _inputs(params: TrackParams) -> list[str]:
    return params.videos


def _plan(params: TrackParams) -> JobProgress:
    return _Progress(params.videos).snapshot()


KIND = JobKind(
    name=NAME,
    title="Batch tracking",
    params_model=TrackParams,
    result_model=TrackResult,
    run=run_track,
    resumable=True,
    describe=_describe,
    plan=_plan,
    inputs=_inputs,
)
