"""Batch progress: values the runner reports, the seed's machine-readable lines, rich bars.

The seed's manager lines, all written by the parent process (so with any worker count):
- `[Progression]|43|video.mp4|chunk=2/5`, one per video each time a chunk of it is done;
- `[Progression-MultiLine]a.mp4: Processing frame 150/2500 (6%) || b.mp4: ...`, the videos in
  progress, on the same occasions;
- `[Gestionnaire] Succès pour a.mp4` / `[Gestionnaire] Échec pour b.mp4` when a video ends.

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


def multiline_line(videos: list[VideoProgress]) -> str | None:
    """The seed's `[Progression-MultiLine]` line over the videos in progress (None: none is)."""
    parts = [
        f"{v.video.name}: Processing frame {v.frames_done}/{v.total_frames} ({int(v.fraction * 100)}%)"
        for v in videos
        if v.state == "running"
    ]
    return f"[Progression-MultiLine]{' || '.join(parts)}" if parts else None


def manager_line(video: VideoProgress) -> str | None:
    """The seed's `[Gestionnaire] Succès pour X` / `Échec pour X` line of a video that ended."""
    if video.state == "done":
        return f"[Gestionnaire] Succès pour {video.video.name}"
    if video.state == "failed":
        return f"[Gestionnaire] Échec pour {video.video.name}"
    return None


class RichProgress:
    """An `on_progress` callback: one bar per video plus an overall bar (on `console`, stderr by
    default), and on `emit` the seed's lines: `[Progression]` and `[Progression-MultiLine]` each time
    a video's chunk count changes, `[Gestionnaire]` once when a video ends."""

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
        changed = [video for video in progress.videos if self._update(video)]
        if self._emit is not None and any(v.state == "running" for v in changed):
            line = multiline_line(progress.videos)
            if line is not None:
                self._emit(line)
        for video in changed:
            ended = manager_line(video)
            if self._emit is not None and ended is not None:
                self._emit(ended)
        if self._overall is not None:
            done = sum(v.state in FINISHED for v in progress.videos)
            info = f"{done}/{len(progress.videos)} videos"
            self._progress.update(self._overall, completed=round(progress.overall * 1000), info=info)

    def _update(self, video: VideoProgress) -> bool:
        """Updates the bar; True when the video's chunk count or state changed (lines emitted)."""
        if video.video not in self._tasks:
            self._tasks[video.video] = self._progress.add_task(video.video.name, total=1000, info="")
        info = video.state if video.state != "running" else f"chunk {video.chunks_done}/{video.chunks_total}"
        if video.error:
            info = f"[red]{video.state}: {video.error}[/red]"
        self._progress.update(self._tasks[video.video], completed=round(video.fraction * 1000), info=info)
        key = (video.chunks_done, video.state)
        if video.state not in ("running", "done", "failed") or self._last.get(video.video) == key:
            return False
        self._last[video.video] = key
        if self._emit is not None and video.state != "failed":
            self._emit(progression_line(video))
        return True
