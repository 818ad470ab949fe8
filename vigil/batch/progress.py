"""Batch progress: values the runner reports, the seed's machine-readable lines, rich bars.

Overall progress follows the seed's rule: a video in progress counts for at most 99% of itself,
so the overall figure never reaches 100% before every video is really finished.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeRemainingColumn

VideoState = Literal["pending", "running", "done", "failed", "skipped"]
FINISHED: frozenset[str] = frozenset({"done", "failed", "skipped"})
RUNNING_CAP = 0.99


@dataclass
class VideoProgress:
    video: Path
    frames_done: int
    total_frames: int
    chunks_done: int
    chunks_total: int
    state: VideoState
    error: str | None = None

    @property
    def fraction(self) -> float:
        """This video's share done: 1 when finished, at most 0.99 while running."""
        if self.state in FINISHED:
            return 1.0
        if self.total_frames <= 0:
            return 0.0
        return min(RUNNING_CAP, self.frames_done / self.total_frames)


@dataclass
class BatchProgress:
    videos: list[VideoProgress]
    overall: float  # 0..1, capped at 0.99 until all done


def overall_fraction(videos: list[VideoProgress]) -> float:
    if not videos:
        return 1.0
    if all(v.state in FINISHED for v in videos):
        return 1.0
    return min(RUNNING_CAP, sum(v.fraction for v in videos) / len(videos))


def progression_line(video: VideoProgress) -> str:
    """The seed's `[Progression]|43|video.mp4|chunk=2/5` line (percent of this video)."""
    percent = 100 if video.state == "done" else int(video.fraction * 100)
    return f"[Progression]|{percent}|{video.video.name}|chunk={video.chunks_done}/{video.chunks_total}"


class RichProgress:
    """An `on_progress` callback: one bar per video plus an overall bar (on `console`, stderr by
    default), and a seed progression line on `emit` each time a video's chunk count changes."""

    def __init__(self, console: Console, emit: Callable[[str], None] | None = None) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[info]}"),
            TimeRemainingColumn(),
            console=console,
        )
        self._tasks: dict[Path, TaskID] = {}
        self._overall: TaskID | None = None
        self._emit = emit
        self._last: dict[Path, tuple[int, str]] = {}

    def __enter__(self) -> RichProgress:
        self._progress.start()
        self._overall = self._progress.add_task("[bold]overall", total=1000, info="")
        return self

    def __exit__(self, *_: object) -> None:
        self._progress.stop()

    def __call__(self, progress: BatchProgress) -> None:
        for video in progress.videos:
            self._update(video)
        if self._overall is not None:
            done = sum(v.state in FINISHED for v in progress.videos)
            info = f"{done}/{len(progress.videos)} videos"
            self._progress.update(self._overall, completed=round(progress.overall * 1000), info=info)

    def _update(self, video: VideoProgress) -> None:
        if video.video not in self._tasks:
            self._tasks[video.video] = self._progress.add_task(video.video.name, total=1000, info="")
        info = video.state if video.state != "running" else f"chunk {video.chunks_done}/{video.chunks_total}"
        if video.error:
            info = f"[red]{video.state}: {video.error}[/red]"
        self._progress.update(self._tasks[video.video], completed=round(video.fraction * 1000), info=info)
        key = (video.chunks_done, video.state)
        if (
            self._emit is not None
            and video.state in ("running", "done")
            and self._last.get(video.video) != key
        ):
            self._last[video.video] = key
            self._emit(progression_line(video))
