"""`vigil anonymize INPUT...`: faces covered in video files; sound, timing and resolution kept,
identifying metadata stripped. Same discovery, skip-existing, atomic outputs and per-video errors
as `vigil track`."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from vigil.anonymize.person_options import PERSON_STYLES, PersonOptions
from vigil.anonymize.settings import AnonymizeSettings, FaceOptions
from vigil.anonymize.styles import FACE_STYLES
from vigil.cli_console import error_console
from vigil.errors import ConfigError, VigilError
from vigil.jobs.cli_options import ExecutorOption, RayAddressOption, jobs_overrides
from vigil.redact import install_log_redaction

if TYPE_CHECKING:  # the pipeline is imported when the command runs, not when `vigil` starts
    from vigil.anonymize.report import AnonymizeReport
    from vigil.anonymize.run import AnonymizeProgress

EXIT_BAD_INPUT = 1
EXIT_FAILED_VIDEOS = 3
EXIT_INTERRUPTED = 130

err = error_console()
_FACES = FaceOptions()
_PERSONS = PersonOptions()
_STRIP = AnonymizeSettings.model_fields["strip_metadata"].default


class _Bar:
    """An `on_progress` callback: one overall bar, its text says the phase (faces, then each video)."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[info]}"),
            TimeRemainingColumn(),
            console=console,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> _Bar:
        self._progress.start()
        self._task = self._progress.add_task("[bold]anonymize", total=1000, info="")
        return self

    def __exit__(self, *_: object) -> None:
        self._progress.stop()

    def __call__(self, progress: AnonymizeProgress) -> None:
        if self._task is None:
            return
        if progress.phase == "faces":
            info = f"finding faces: frame {progress.frames_done}/{progress.total_frames}"
        elif progress.phase == "render" and progress.video is not None:
            info = f"{progress.video.name}: frame {progress.frames_done}/{progress.total_frames}"
        else:
            info = "done"
        self._progress.update(self._task, completed=round(progress.overall * 1000), info=info)


def anonymize(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Video files, or folders searched recursively for .mp4 .mov .avi .mkv .webm."),
    ],
    out_dir: Annotated[
        Path | None,
        typer.Option(
            help="Write <stem>_anonymized.mp4 and its .json report here.", show_default="next to each video"
        ),
    ] = None,
    faces: Annotated[
        str | None,
        typer.Option(
            help=f"How faces are covered: {', '.join(FACE_STYLES)}.",
            show_default=f"anonymize.faces.style: {_FACES.style}",
        ),
    ] = None,
    pad: Annotated[
        float | None,
        typer.Option(
            help="Grow each face box by this fraction of its size on every side.",
            show_default=f"anonymize.faces.pad: {_FACES.pad:g}",
        ),
    ] = None,
    persons: Annotated[
        str | None,
        typer.Option(
            help=f"Bodies and clothes: {', '.join(PERSON_STYLES)} (recolor: each person's clothes get a "
            "new colour, skin and shading kept; the others cover the whole person).",
            show_default=f"anonymize.persons.style: {_PERSONS.style}",
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="Redo videos that already have their output.")] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Worker processes of the face pass and of the rendering; 1 runs in this process.",
            show_default="track.cpu_workers: CPU count",
        ),
    ] = None,
    keep_metadata: Annotated[
        bool | None,
        typer.Option(
            "--keep-metadata/--strip-metadata",
            help="Copy the container's tags (location, device, creation time...) to the output.",
            show_default=f"anonymize.strip_metadata: {'--strip-metadata' if _STRIP else '--keep-metadata'}",
        ),
    ] = None,
    executor: ExecutorOption = None,
    ray_address: RayAddressOption = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="YAML settings file; reads its `anonymize:`, `track:`, `jobs:` sections."
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Cover the faces in video files: <stem>_anonymized.mp4 (H.264; the audio copied as it is;
    frame rate, timestamps, resolution and rotation kept) and a <stem>_anonymized.json report.

    Bodies and clothes are left as they are unless --persons (e.g. --persons recolor).
    Faces are tracked over the whole file first, so a box covers a face through missed detections
    and a few frames before and after it is seen. Identifying container metadata is removed unless
    --keep-metadata; the report lists what was removed. Videos that already have their output are
    skipped unless --force. Exit code 0 when every video is done or skipped, 3 when one failed, 1 on
    bad settings or inputs, 130 when interrupted (finished outputs stay)."""
    install_log_redaction()  # as every vigil command: no password in a log line
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False)],
    )
    from vigil.anonymize.run import anonymize_videos
    from vigil.batch.discover import discover_videos
    from vigil.config import load_settings
    from vigil.malloc_tuning import keep_freed_memory

    try:
        settings = load_settings(config, jobs=jobs_overrides(executor, ray_address))
        face_options = _overridden(
            settings.anonymize.faces, {"style": ("--faces", faces), "pad": ("--pad", pad)}
        )
        person_options = _overridden(settings.anonymize.persons, {"style": ("--persons", persons)})
        strip = settings.anonymize.strip_metadata if keep_metadata is None else not keep_metadata
        anonymize_settings = settings.anonymize.model_copy(
            update={"faces": face_options, "persons": person_options, "strip_metadata": strip}
        )
        settings = settings.model_copy(update={"anonymize": anonymize_settings})
        videos = discover_videos(paths)
    except (VigilError, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}", markup=True)
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    if not videos:
        err.print("no video found (.mp4 .mov .avi .mkv .webm)")
        raise typer.Exit(0)
    cancel = threading.Event()
    keep_freed_memory()  # with one worker, the frames go through this process
    try:
        with _Bar(err) as bar:
            report = anonymize_videos(videos, out_dir, settings, bar, cancel, force=force, workers=workers)
    except KeyboardInterrupt:
        cancel.set()
        err.print("interrupted: finished outputs are kept, partial ones removed; run again to do the rest")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except VigilError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    err.print(summary(videos, report))
    raise typer.Exit(EXIT_FAILED_VIDEOS if report.failed else 0)


_Options = TypeVar("_Options", FaceOptions, PersonOptions)


def _overridden(configured: _Options, options: dict[str, tuple[str, object]]) -> _Options:
    """`configured` with the command-line options given (field: (option, value or None)); a
    refused value is named by its option."""
    from vigil.config import describe_invalid

    given = {field: value for field, (_, value) in options.items() if value is not None}
    if not given:
        return configured
    try:
        return type(configured).model_validate(configured.model_dump() | given)
    except ValidationError as exc:
        names = {field: option for field, (option, _) in options.items()}
        raise ConfigError(describe_invalid(exc, names)) from exc


def summary(videos: list[Path], report: AnonymizeReport) -> Table:
    table = Table(title="vigil anonymize")
    table.add_column("video", overflow="fold")  # whole names and paths, on more lines if need be
    table.add_column("result")
    table.add_column("output / reason", overflow="fold")
    for video in videos:
        if video in report.failed:
            table.add_row(video.name, "[red]failed[/red]", report.failed[video])
        elif video in report.skipped:
            table.add_row(video.name, "skipped (exists; --force redoes it)", str(report.skipped[video]))
        elif video in report.done:
            sidecar = report.sidecars[video]
            detail = (
                f"{report.done[video]}\n{sidecar.frames} frames, faces on {sidecar.faces.frames_with_faces}, "
                f"{len(sidecar.metadata_removed)} metadata tags removed, {sidecar.timings.render_fps:g} fps"
            )
            table.add_row(video.name, "[green]done[/green]", detail)
        else:
            table.add_row(video.name, "not done (interrupted)", "")
    return table
