"""`vigil activity analyse|train|eval`: what a person is doing in video files (seed 002)."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from vigil.activity.labels import display_name
from vigil.cli_console import error_console
from vigil.cli_typer import VigilTyper
from vigil.errors import VigilError
from vigil.jobs.cli_options import ExecutorOption, RayAddressOption, jobs_overrides
from vigil.private_files import replace_private_file
from vigil.redact import install_log_redaction

if TYPE_CHECKING:  # the pipeline is imported when a command runs, not when `vigil` starts
    from vigil.activity.evaluate import EvalReport, LabelledClip
    from vigil.activity.labelled import LabelledSpan
    from vigil.activity.result import ActivityAnalysis
    from vigil.config import VigilSettings

EXIT_BAD_INPUT = 1
EXIT_FAILED = 3
EXIT_INTERRUPTED = 130

activity_app = VigilTyper(
    help="What a person is doing, from audio and video (seed 002).", no_args_is_help=True
)
err = error_console()
out = Console()

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML settings file; reads its `activity:` section.")
]
CacheOption = Annotated[
    Path | None,
    typer.Option(
        help="Keep each file's cues here as JSON and reuse them on the next run (same file, same interval)."
    ),
]
MediaRootOption = Annotated[
    Path | None,
    typer.Option(help="Resolve the CSV's paths against this folder.", show_default="the CSV's folder"),
]


def _setup(verbose: bool) -> None:
    install_log_redaction()  # as every vigil command: no password in a log line
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False)],
    )


def _settings(config: Path | None, jobs: dict[str, str] | None = None, **activity: object) -> VigilSettings:
    from pydantic import ValidationError

    from vigil.activity.settings import ActivitySettings
    from vigil.config import describe_invalid, load_settings

    try:
        settings = load_settings(config, jobs=jobs or {})
        merged = settings.activity.model_dump() | {k: v for k, v in activity.items() if v is not None}
        return settings.model_copy(update={"activity": ActivitySettings.model_validate(merged)})
    except ValidationError as exc:  # an option's value (the settings' own are ConfigError)
        err.print(f"[red]error:[/red] {describe_invalid(exc, _OPTION_NAMES)}")
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    except (VigilError, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_BAD_INPUT) from exc


# The command-line options behind the activity settings they set.
_OPTION_NAMES = {"sample_interval_s": "--interval", "classifier": "--classifier", "workers": "--workers"}


def _bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
    )


@activity_app.command("analyse")
def analyse(
    files: Annotated[
        list[Path], typer.Argument(help="Video files (their own audio track is used when they have one).")
    ],
    json_out: Annotated[
        Path | None,
        typer.Option(
            "--json",
            help="Write the segments and the dominant activity here (one file: its analysis; several: "
            "the API job's result, analyses and failed files).",
        ),
    ] = None,
    interval: Annotated[
        float | None,
        typer.Option(help="Seconds between analysed frames.", show_default="activity.sample_interval_s: 0.5"),
    ] = None,
    classifier: Annotated[
        str | None,
        typer.Option(help="rules or model (trained with `vigil activity train`).", show_default="rules"),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Workers for a file's vision cues (locally N threads of this process; Ray: N actors).",
            show_default="one per 30 s of video, up to the CPU count",
        ),
    ] = None,
    cues_cache: CacheOption = None,
    executor: ExecutorOption = None,
    ray_address: RayAddressOption = None,
    config: ConfigOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Analyse video files: activity segments (start, end, activity, confidence, the cues behind
    it) and the dominant activity of each file. Exit 0 when every file was analysed, 3 when one
    failed (the others are still analysed), 1 on bad settings, 130 when interrupted."""
    _setup(verbose)
    settings = _settings(
        config,
        jobs_overrides(executor, ray_address),
        sample_interval_s=interval,
        classifier=classifier,
        workers=workers,
    )
    from vigil.activity.analyse import analyse_file, classifier_for

    try:
        chosen = classifier_for(settings)
    except VigilError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    results: list[ActivityAnalysis] = []
    failed: dict[Path, str] = {}
    cancel = threading.Event()
    try:
        with _bar() as bar:
            for path in files:
                task = bar.add_task(path.name, total=None)

                def step(done: int, total: int, task: int = task) -> None:
                    bar.update(task, completed=done, total=total)  # type: ignore[arg-type]

                try:
                    results.append(analyse_file(path, settings, chosen, step, cancel, cues_cache))
                except (VigilError, OSError, ValueError) as exc:
                    failed[path] = str(exc)
    except KeyboardInterrupt:
        cancel.set()
        err.print("interrupted")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    for result in results:
        out.print(_table(result))
    for path, reason in failed.items():
        err.print(f"[red]{path}: failed:[/red] {reason}")
    if json_out is not None and (results or len(files) > 1):
        # One file: its analysis. Several: the `activity` job's result, failures included, so a
        # batch read from the JSON alone sees which files are missing and why.
        from vigil.activity.job import ActivityResult

        payload = (
            results[0].model_dump(mode="json")
            if len(files) == 1
            else ActivityResult(analyses=results, failed={str(p): r for p, r in failed.items()}).model_dump(
                mode="json"
            )
        )
        replace_private_file(json_out, (json.dumps(payload, indent=2) + "\n").encode())
    raise typer.Exit(EXIT_FAILED if failed else 0)


def _table(result: ActivityAnalysis) -> Table:
    table = Table(title=f"{Path(result.input).name}: {display_name(result.dominant)} ({result.classifier})")
    for column in ("start", "end", "activity", "confidence", "cues"):
        table.add_column(column)
    for s in result.segments:
        cues = f"motion {s.cues.motion:.3f}, eyes closed {s.cues.eyes_closed:.0%}, voice {s.cues.voice:.0%}"
        if s.cues.objects or s.cues.sounds:
            cues += ", " + ", ".join(s.cues.objects + s.cues.sounds)
        table.add_row(f"{s.start:.1f}", f"{s.end:.1f}", display_name(s.activity), f"{s.confidence:.2f}", cues)
    return table


def _labelled_clips(
    labels: Path, media_root: Path | None, settings: VigilSettings, cues_cache: Path | None
) -> tuple[list[LabelledClip], list[LabelledSpan]]:
    from vigil.activity.analyse import extract_cues
    from vigil.activity.evaluate import LabelledClip
    from vigil.activity.labelled import read_labels

    spans = read_labels(labels, media_root)
    clips = []
    with _bar() as bar:
        paths = list(dict.fromkeys(span.path for span in spans))
        task = bar.add_task("cues", total=len(paths))
        for path in paths:
            clips.append(LabelledClip(path, extract_cues(path, settings, cache_dir=cues_cache)))
            bar.advance(task)
    return clips, spans


@activity_app.command("train")
def train(
    labels: Annotated[
        Path, typer.Argument(help="CSV with path,label (and optional start,end seconds) columns.")
    ],
    out_path: Annotated[
        Path | None,
        typer.Option("--out", help="Model file.", show_default="<data_dir>/activity_model.joblib"),
    ] = None,
    media_root: MediaRootOption = None,
    synthetic_s: Annotated[
        float, typer.Option(help="Seconds of synthetic cues per activity added to the training (0: none).")
    ] = 60.0,
    cues_cache: CacheOption = None,
    config: ConfigOption = None,
) -> None:
    """Train the activity model on labelled clips; use it with `activity.classifier: model`."""
    _setup(False)
    settings = _settings(config)
    from vigil.activity.evaluate import train_model
    from vigil.activity.model import save_model

    try:
        clips, spans = _labelled_clips(labels, media_root, settings, cues_cache)
        model = train_model(clips, spans, settings.activity, synthetic_s)
        target = out_path or settings.activity.model_path or settings.data_dir / "activity_model.joblib"
        save_model(model, target)
    except (VigilError, OSError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    out.print(f"trained on {len(clips)} clips (+{model.synthetic_windows} synthetic windows): {target}")


@activity_app.command("eval")
def evaluate_command(
    labels: Annotated[
        Path, typer.Argument(help="CSV with path,label (and optional start,end seconds) columns.")
    ],
    classifier: Annotated[
        str, typer.Option(help="rules, model (scored leave-one-clip-out) or both.")
    ] = "both",
    media_root: MediaRootOption = None,
    synthetic_s: Annotated[
        float, typer.Option(help="Seconds of synthetic cues per activity in each training (0: none).")
    ] = 60.0,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the reports here.")] = None,
    cues_cache: CacheOption = None,
    config: ConfigOption = None,
) -> None:
    """Score the classifiers on labelled clips, per second: precision, recall, macro-F1 and the
    confusion matrix. The model is scored on clips its training never saw."""
    _setup(False)
    if classifier not in ("rules", "model", "both"):
        err.print(f"[red]error:[/red] --classifier must be rules, model or both, not {classifier!r}")
        raise typer.Exit(EXIT_BAD_INPUT)
    settings = _settings(config)
    from vigil.activity.evaluate import evaluate

    try:
        clips, spans = _labelled_clips(labels, media_root, settings, cues_cache)
    except (VigilError, OSError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    kinds = ["rules", "model"] if classifier == "both" else [classifier]
    reports = [evaluate(clips, spans, settings.activity, kind, synthetic_s) for kind in kinds]
    for report in reports:
        for table in report_tables(report):
            out.print(table)
    if json_out is not None:
        reports_json = json.dumps([r.model_dump(mode="json") for r in reports], indent=2) + "\n"
        replace_private_file(json_out, reports_json.encode())


def report_tables(report: EvalReport) -> list[Table]:
    scores = Table(
        title=f"{report.classifier}: macro-F1 {report.macro_f1:.3f}, "
        f"accuracy {report.accuracy:.3f} ({report.seconds} s)"
    )
    for column in ("activity", "precision", "recall", "F1", "seconds"):
        scores.add_column(column)
    for c in report.classes:
        scores.add_row(
            c.activity.value, f"{c.precision:.2f}", f"{c.recall:.2f}", f"{c.f1:.2f}", str(c.support_s)
        )
    confusion = Table(title=f"{report.classifier}: confusion (rows truth, columns predicted, seconds)")
    confusion.add_column("")
    for label in report.confusion_labels:
        confusion.add_column(label.value[:8])
    for label, row in zip(report.confusion_labels, report.confusion, strict=True):
        confusion.add_row(label.value, *[str(v) for v in row])
    clips = Table(title=f"{report.classifier}: per clip")
    clips.add_column("clip", overflow="fold")  # the whole file name, on more lines if need be
    for column in ("truth", "dominant", "accuracy"):
        clips.add_column(column)
    for clip in report.clips:
        clips.add_row(Path(clip.path).name, clip.truth.value, clip.predicted.value, f"{clip.accuracy:.2f}")
    return [scores, confusion, clips]
