"""The `anonymize` job kind: `anonymize_videos` as a persistent job (API and UI, issue 17).

Resumable: outputs appear atomically and existing ones are skipped, so a run interrupted by a
restart starts again and redoes only what is missing. The parameters carry the effective
settings sections and the directories they were resolved against, so the job runs as submitted
whatever the server's environment later is."""

from __future__ import annotations

import threading
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from vigil.anonymize.run import AnonymizeProgress, anonymize_videos
from vigil.anonymize.settings import AnonymizeSettings
from vigil.batch.settings import BatchSettings
from vigil.config import VigilSettings, load_settings
from vigil.jobs.kinds import Finished, JobContext, JobKind, SettingsDirs, describe_videos
from vigil.jobs.model import ItemProgress, ItemState, JobProgress, JobState

NAME = "anonymize"


class AnonymizeParams(SettingsDirs):
    model_config = ConfigDict(extra="forbid")

    videos: list[str] = Field(min_length=1, description="Video files, absolute paths")
    out_dir: str = Field(description="Folder of the outputs (absolute)")
    force: bool = False
    anonymize: AnonymizeSettings
    track: BatchSettings


class AnonymizeResult(BaseModel):
    done: dict[str, str] = Field(default_factory=dict, description="input -> anonymised file")
    skipped: dict[str, str] = Field(default_factory=dict, description="input -> the existing output")
    failed: dict[str, str] = Field(default_factory=dict, description="input -> reason")


def anonymize_params(
    videos: list[Path], out_dir: Path, settings: VigilSettings, force: bool = False
) -> AnonymizeParams:
    return AnonymizeParams(
        videos=[str(video.absolute()) for video in videos],
        out_dir=str(out_dir.absolute()),
        force=force,
        anonymize=settings.anonymize,
        track=settings.track,
        **SettingsDirs.of(settings),
    )


def job_settings(params: AnonymizeParams) -> VigilSettings:
    return load_settings(
        None,
        anonymize=params.anonymize,
        track=params.track,
        **params.overrides(),
    )


class _Progress:
    """Job progress from the run's: one item per input, rendered in turn after the face pass."""

    def __init__(self, videos: list[str]) -> None:
        self.items = {video: ItemProgress(name=video, state=ItemState.PENDING) for video in videos}
        self.overall = 0.0
        self._lock = threading.Lock()

    def update(self, progress: AnonymizeProgress) -> JobProgress:
        with self._lock:
            self.overall = min(0.99, progress.overall)
            if progress.phase == "faces":
                for name, item in self.items.items():
                    if item.state == ItemState.PENDING:
                        self.items[name] = item.model_copy(update={"state": ItemState.RUNNING})
            elif progress.phase == "render" and progress.video is not None:
                name = str(progress.video)
                if name in self.items:
                    self.items[name] = self.items[name].model_copy(
                        update={
                            "state": ItemState.RUNNING,
                            "units_done": progress.frames_done,
                            "units_total": progress.total_frames,
                        }
                    )
            return self.snapshot()

    def finish(self, result: AnonymizeResult, cancelled: bool) -> JobProgress:
        with self._lock:
            for name, item in self.items.items():
                if name in result.done or name in result.skipped:
                    state = ItemState.DONE if name in result.done else ItemState.SKIPPED
                    self.items[name] = item.model_copy(
                        update={"state": state, "units_done": item.units_total}
                    )
                elif name in result.failed:
                    self.items[name] = item.model_copy(
                        update={"state": ItemState.FAILED, "error": result.failed[name]}
                    )
                elif cancelled:
                    self.items[name] = item.model_copy(update={"state": ItemState.CANCELLED})
            if not cancelled:
                self.overall = 1.0
            return self.snapshot()

    def snapshot(self) -> JobProgress:
        return JobProgress(overall=self.overall, items=list(self.items.values()))


def run_anonymize(params: AnonymizeParams, context: JobContext) -> Finished[AnonymizeResult]:
    progress = _Progress(params.videos)
    report = anonymize_videos(
        [Path(video) for video in params.videos],
        Path(params.out_dir),
        job_settings(params),
        on_progress=lambda update: context.report(progress.update(update)),
        cancel=context.cancel,
        force=params.force,
    )
    result = AnonymizeResult(
        done={str(video): str(output) for video, output in report.done.items()},
        skipped={str(video): str(output) for video, output in report.skipped.items()},
        failed={str(video): reason for video, reason in report.failed.items()},
    )
    cancelled = context.cancel.is_set() and len(result.done) + len(result.skipped) + len(result.failed) < len(
        params.videos
    )
    context.report(progress.finish(result, cancelled))
    if cancelled:
        return Finished(JobState.CANCELLED, result)
    return Finished(JobState.FAILED if result.failed else JobState.DONE, result)


def _describe(params: AnonymizeParams) -> str:
    return describe_videos(params.videos)


def _inputs(params: AnonymizeParams) -> list[str]:
    return params.videos


def _plan(params: AnonymizeParams) -> JobProgress:
    return _Progress(params.videos).snapshot()


KIND = JobKind(
    name=NAME,
    title="Anonymisation",
    params_model=AnonymizeParams,
    result_model=AnonymizeResult,
    run=run_anonymize,
    resumable=True,
    describe=_describe,
    plan=_plan,
    inputs=_inputs,
)
