"""The `activity` job kind: `vigil activity analyse` as a persistent job (API and UI).

Each file's result is the same JSON as `vigil activity analyse --json` (result.py). The
parameters carry the effective `activity:` section and the directories it was resolved against,
so the job runs as submitted whatever the server's environment later is."""

from __future__ import annotations

import threading
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from vigil.activity.analyse import analyse_file, classifier_for
from vigil.activity.result import ActivityAnalysis
from vigil.activity.settings import ActivitySettings
from vigil.activity.vision import VisionCancelled
from vigil.config import VigilSettings, load_settings
from vigil.errors import VigilError
from vigil.jobs.kinds import Finished, JobContext, JobKind, SettingsDirs, describe_videos
from vigil.jobs.model import ItemProgress, ItemState, JobProgress, JobState

__all__ = ["KIND", "ActivityParams", "ActivityResult", "activity_params"]

NAME = "activity"


class ActivityParams(SettingsDirs):
    model_config = ConfigDict(extra="forbid")

    videos: list[str] = Field(min_length=1, description="Video files, absolute paths")
    activity: ActivitySettings


class ActivityResult(BaseModel):
    analyses: list[ActivityAnalysis] = Field(
        default_factory=list, description="one per analysed file, in order"
    )
    failed: dict[str, str] = Field(default_factory=dict, description="input -> reason")


def activity_params(videos: list[Path], settings: VigilSettings) -> ActivityParams:
    return ActivityParams(
        videos=[str(video.absolute()) for video in videos],
        activity=settings.activity,
        **SettingsDirs.of(settings),
    )


def job_settings(params: ActivityParams) -> VigilSettings:
    return load_settings(
        None,
        activity=params.activity,
        **params.overrides(),
    )


class _Progress:
    """One item per file; its units are the video frames analysed."""

    def __init__(self, videos: list[str]) -> None:
        self.items = {video: ItemProgress(name=video, state=ItemState.PENDING) for video in videos}
        self._lock = threading.Lock()

    def set(self, video: str, **update: object) -> JobProgress:
        with self._lock:
            self.items[video] = self.items[video].model_copy(update=update)
            return self.snapshot()

    def snapshot(self) -> JobProgress:
        items = list(self.items.values())
        # A cancelled file counts what it got through, as in the other job kinds: the bar of a
        # cancelled job stays where it stopped instead of reading complete.
        finished = {ItemState.DONE, ItemState.FAILED, ItemState.SKIPPED}
        share = sum(
            1.0
            if item.state in finished
            else (item.units_done / item.units_total if item.units_total else 0.0)
            for item in items
        )
        return JobProgress(overall=min(1.0, share / max(len(items), 1)), items=items)


def run_activity(params: ActivityParams, context: JobContext) -> Finished[ActivityResult]:
    settings = job_settings(params)
    progress = _Progress(params.videos)
    result = ActivityResult()
    try:
        classifier = classifier_for(settings)
    except VigilError as exc:
        return Finished(JobState.FAILED, result, str(exc))
    for video in params.videos:
        if context.cancel.is_set():
            break
        context.report(progress.set(video, state=ItemState.RUNNING))

        def step(done: int, total: int, video: str = video) -> None:
            context.report(progress.set(video, units_done=done, units_total=total))

        try:
            result.analyses.append(analyse_file(Path(video), settings, classifier, step, context.cancel))
        except VisionCancelled:
            context.report(progress.set(video, state=ItemState.CANCELLED))
            break
        except (VigilError, OSError, ValueError) as exc:
            result.failed[video] = str(exc)
            context.report(progress.set(video, state=ItemState.FAILED, error=str(exc)))
        else:
            done = progress.items[video].units_total
            context.report(progress.set(video, state=ItemState.DONE, units_done=done))
    if context.cancel.is_set():
        for video, item in progress.items.items():
            if item.state in (ItemState.PENDING, ItemState.RUNNING):
                context.report(progress.set(video, state=ItemState.CANCELLED))
        return Finished(JobState.CANCELLED, result)
    return Finished(JobState.FAILED if result.failed else JobState.DONE, result)


def _describe(params: ActivityParams) -> str:
    return describe_videos(params.videos)


def _inputs(params: ActivityParams) -> list[str]:
    return params.videos


def _plan(params: ActivityParams) -> JobProgress:
    return _Progress(params.videos).snapshot()


KIND = JobKind(
    name=NAME,
    title="Activity analysis",
    params_model=ActivityParams,
    result_model=ActivityResult,
    run=run_activity,
    resumable=False,
    describe=_describe,
    plan=_plan,
    inputs=_inputs,
)
