"""`vigil track`: batch tracking of video files and folders, and validation of its outputs.

Two forms share the `track` group: `vigil track PATH... [OPTIONS]` (shorthand for
`vigil track run PATH...`) and `vigil track validate PATH...`. Click groups cannot take
positional arguments before a subcommand, so the group routes anything that is not a known
subcommand to `run`.
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from vigil.batch.settings import BatchSettings, supported_engines
from vigil.cli_console import error_console
from vigil.cli_groups import default_command_group
from vigil.cli_typer import VigilTyper
from vigil.errors import VigilError
from vigil.jobs.cli_options import ExecutorOption, RayAddressOption, jobs_overrides

DEFAULT_ENGINE = BatchSettings.model_fields["engine"].default

err = error_console()
out = Console()

EXIT_BAD_INPUT = 1
EXIT_FAILED_VIDEOS = 3
EXIT_INTERRUPTED = 130
T = TypeVar("T")


track_app = VigilTyper(
    # `vigil track PATH...` and `vigil track --help` mean `vigil track run …`.
    cls=default_command_group("run", help_shows_default=True),
    help="Batch tracking of video files and folders into dense per-frame <stem>_tracking.json files. "
    "`vigil track PATH...` is short for `vigil track run PATH...`.",
)


@track_app.command("run")
def run(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Video files, or folders searched recursively for .mp4 .mov .avi .mkv .webm "
            "(e.g. the seed's <base>/<project>/docs/ layout)."
        ),
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(
            help=f"Face engine: {', '.join(supported_engines())}.",
            show_default=f"track.engine or STEP5_TRACKING_ENGINE: {DEFAULT_ENGINE}"
            " (mediapipe_landmarker if installed, else yunet)",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Worker processes; 1 runs in this process. Default: planned from the work (a "
            "worker's start must pay off), at most the CPU count.",
            show_default="track.cpu_workers or TRACKING_CPU_WORKERS: CPU count",
        ),
    ] = None,
    chunk_size: Annotated[
        int | None,
        typer.Option(
            help="Fixed frames per chunk; 0: adaptive (about 5 chunks per worker).",
            show_default="track.chunk_size: adaptive",
        ),
    ] = None,
    chunk_min: Annotated[
        int | None,
        typer.Option(
            help="Smallest adaptive chunk (frames).", show_default="track.chunk_min or TRACKING_CHUNK_MIN: 20"
        ),
    ] = None,
    chunk_max: Annotated[
        int | None,
        typer.Option(
            help="Largest adaptive chunk (frames).", show_default="track.chunk_max or TRACKING_CHUNK_MAX: 400"
        ),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(help="Write outputs in this directory.", show_default="next to each video"),
    ] = None,
    force: Annotated[bool, typer.Option(help="Redo videos that already have their output.")] = False,
    videos_json: Annotated[
        Path | None, typer.Option(help="JSON list of video paths (the seed's --videos_json_path).")
    ] = None,
    executor: ExecutorOption = None,
    ray_address: RayAddressOption = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="YAML settings file; batch tracking reads its `track:`, `jobs:` sections."
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
    # Seed 000's spellings (run_tracking_manager.py / its workers), hidden aliases of the above.
    seed_videos_json: Annotated[Path | None, typer.Option("--videos_json_path", hidden=True)] = None,
    seed_engine: Annotated[str | None, typer.Option("--face_engine", hidden=True)] = None,
    seed_workers: Annotated[int | None, typer.Option("--mp_num_workers_internal", hidden=True)] = None,
    seed_cpu_workers: Annotated[int | None, typer.Option("--cpu_internal_workers", hidden=True)] = None,
    seed_chunk_size: Annotated[int | None, typer.Option("--chunk_size", hidden=True)] = None,
    seed_chunk_min: Annotated[int | None, typer.Option("--chunk_min", hidden=True)] = None,
    seed_chunk_max: Annotated[int | None, typer.Option("--chunk_max", hidden=True)] = None,
    seed_disable_gpu: Annotated[bool, typer.Option("--disable_gpu", hidden=True)] = False,
) -> None:
    """Track faces in videos: detect, landmarks, blendshapes, head pose, speaking, persistent ids.

    Videos that already have their output are skipped unless --force. Prints the seed's
    `[Progression]|43|video.mp4|chunk=2/5`, `[Progression-MultiLine]...` and `[Gestionnaire] Succès
    pour video.mp4` lines on stdout when it is not a terminal, and `[PROFILING]` lines on stderr
    with STEP5_ENABLE_PROFILING=1. The seed's snake_case flags (--videos_json_path, --face_engine,
    ...) are accepted as aliases of these options.
    Exit code 0 when every video is done or skipped, 3 when one failed, 1 on bad settings or inputs,
    130 when interrupted (finished outputs stay; run again to do the rest).
    Check outputs with `vigil track validate PATH...`."""
    _setup_logging(verbose)
    from vigil.batch.discover import discover_videos
    from vigil.config import load_settings
    from vigil.jobs.workers import ExecutorSettings

    del seed_disable_gpu  # accepted for the seed's command lines: every Vigil engine runs on the CPU
    try:
        videos_json = _alias("--videos-json", videos_json, ("--videos_json_path", seed_videos_json))
        engine = _alias("--engine", engine, ("--face_engine", seed_engine))
        workers = _alias(
            "--workers",
            workers,
            ("--mp_num_workers_internal", seed_workers),
            ("--cpu_internal_workers", seed_cpu_workers),
        )
        chunk_size = _alias("--chunk-size", chunk_size, ("--chunk_size", seed_chunk_size))
        chunk_min = _alias("--chunk-min", chunk_min, ("--chunk_min", seed_chunk_min))
        chunk_max = _alias("--chunk-max", chunk_max, ("--chunk_max", seed_chunk_max))
    except typer.BadParameter as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    if not paths and videos_json is None:
        err.print("[red]error:[/red] give video files or folders, or --videos-json FILE")
        raise typer.Exit(EXIT_BAD_INPUT)
    try:
        track = {
            "engine": engine,
            "cpu_workers": workers,
            "chunk_size": chunk_size,
            "chunk_min": chunk_min,
            "chunk_max": chunk_max,
        }
        loaded = load_settings(
            config,
            track={key: value for key, value in track.items() if value is not None},
            jobs=jobs_overrides(executor, ray_address),
        )
        settings, where = loaded.track, ExecutorSettings.of(loaded.jobs)
        videos = discover_videos(paths or [], videos_json)
    except VigilError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    if not videos:
        err.print("no video found (.mp4 .mov .avi .mkv .webm)")
        raise typer.Exit(0)
    report = _run(videos, settings, out_dir, force, where)
    raise typer.Exit(EXIT_FAILED_VIDEOS if report.failed else 0)


def _alias(name: str, value: T | None, *aliases: tuple[str, T | None]) -> T | None:
    """The value of an option given under its name or one of the seed's; two different values fail."""
    given = [(name, value)] if value is not None else []
    given += [(alias, v) for alias, v in aliases if v is not None]
    if len({repr(v) for _, v in given}) > 1:
        names = " and ".join(f"{n} {v}" for n, v in given)
        raise typer.BadParameter(f"{names} disagree (the seed's spellings are aliases of {name})")
    return given[0][1] if given else None


def _run(videos: list[Path], settings: Any, out_dir: Path | None, force: bool, where: Any) -> Any:
    from vigil.batch.progress import RichProgress
    from vigil.batch.runner import run_batch

    emit = None if sys.stdout.isatty() else _print_line
    cancel = threading.Event()
    try:
        with RichProgress(err, emit) as progress:
            report = run_batch(
                videos,
                settings,
                out_dir=out_dir,
                force=force,
                on_progress=progress,
                cancel=cancel,
                executor_settings=where,
            )
    except KeyboardInterrupt:
        err.print("interrupted: finished outputs are kept, partial ones removed; run again to do the rest")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except VigilError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    err.print(_summary(videos, report, out_dir))
    return report


def _print_line(line: str) -> None:
    print(line, flush=True)


def _summary(videos: list[Path], report: Any, out_dir: Path | None) -> Table:
    from vigil.batch.discover import tracking_output_path

    table = Table(title="vigil track")
    for column in ("video", "result", "output / reason"):
        table.add_column(column, overflow="fold")  # whole paths, also at 80 columns (a pipe)
    for video in videos:
        if video in report.failed:
            table.add_row(video.name, "[red]failed[/red]", report.failed[video])
        elif video in report.skipped:
            table.add_row(
                video.name, "skipped (exists; --force redoes it)", str(tracking_output_path(video, out_dir))
            )
        elif video in report.partial:  # done, with placeholder entries
            output = tracking_output_path(video, out_dir)
            table.add_row(video.name, "[yellow]partial[/yellow]", f"{output}\n{report.partial[video]}")
        elif video in report.done:
            table.add_row(video.name, "[green]done[/green]", str(tracking_output_path(video, out_dir)))
        else:
            table.add_row(video.name, "not done", "")
    return table


@track_app.command("validate")
def validate(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="*_tracking.json files, videos (their output must exist), or folders (every video's "
            "output, and every tracking file found)."
        ),
    ],
    out_dir: Annotated[
        Path | None, typer.Option(help="Where `vigil track --out-dir` wrote the outputs of the videos given.")
    ] = None,
) -> None:
    """Check tracking outputs against the JSON Schema and the rules a schema cannot express
    (dense 1..N numbering, box arithmetic, ids, statistics). Exit code 0 when all are valid, 1 otherwise."""
    from vigil.batch.validate import validate_outputs

    try:
        reports = validate_outputs(paths, out_dir)
    except VigilError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    if not reports:
        err.print("no tracking file found")
        raise typer.Exit(EXIT_BAD_INPUT)
    for report in reports:
        if report.ok:
            out.print(
                f"[green]ok[/green] {report.path}: {report.frames} frames, {report.objects} tracked objects"
            )
            continue
        out.print(f"[red]invalid[/red] {report.path}")
        for problem in report.problems:
            out.print(f"  - {problem}", markup=False)
    bad = sum(not report.ok for report in reports)
    out.print(f"{len(reports) - bad} valid, {bad} invalid")
    raise typer.Exit(1 if bad else 0)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False)],
    )
    # The [PROFILING] lines (only written with STEP5_ENABLE_PROFILING=1), plain on stderr: one
    # greppable line each, as the seed's.
    profiling = logging.getLogger("vigil.batch.profiling")
    profiling.setLevel(logging.INFO)
    for old in list(profiling.handlers):
        profiling.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    profiling.addHandler(handler)
    profiling.propagate = False
