"""`vigil jobs`: list, show and cancel the persistent jobs of the configured database.

These commands read and write the job rows directly, so they work whether or not a server is
running. A cancel of a running job marks it `cancelling`; the server running it notices at its
next progress write (within a second) and stops after the current step."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from vigil.cli_console import error_console
from vigil.cli_typer import VigilTyper
from vigil.config import load_settings
from vigil.errors import VigilError
from vigil.jobs.errors import JobAlreadyFinished, JobNotFound
from vigil.jobs.kinds import registry
from vigil.jobs.model import JobRecord, JobState
from vigil.store.database import connect
from vigil.store.jobs import JobRepository

jobs_app = VigilTyper(help="Persistent jobs (batch tracking, ...): list, show, cancel.", no_args_is_help=True)
out = Console()
err = error_console()

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL.", show_default="store.url, else sqlite:///<data_dir>/vigil.db"),
]
ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML settings file.", show_default="none")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
JobId = Annotated[str, typer.Argument(help="Job id, or a unique start of it (as `vigil jobs list` shows).")]
STATE_STYLES = {
    JobState.QUEUED: "cyan",
    JobState.RUNNING: "blue",
    JobState.CANCELLING: "yellow",
    JobState.DONE: "green",
    JobState.FAILED: "red",
    JobState.CANCELLED: "magenta",
}


@contextmanager
def _repository(config: Path | None, db: str | None) -> Iterator[JobRepository]:
    try:
        settings = load_settings(config)
        database = connect(db or settings.resolved_db_url)
    except VigilError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    try:
        yield JobRepository(database)
    except VigilError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    finally:
        database.dispose()


def _find(repo: JobRepository, prefix: str) -> JobRecord:
    """The job whose id is `prefix` or starts with it (JobNotFound when none or several)."""
    exact = repo.get(prefix)
    if exact is not None:
        return exact
    matches = [job for job in repo.list() if job.id.startswith(prefix.lower())] if prefix else []
    if len(matches) != 1:
        hint = "" if not matches else f" ({len(matches)} jobs start with it: give more characters)"
        raise JobNotFound(prefix + hint)
    return matches[0]


def _summary(record: JobRecord) -> str:
    kind = registry().get(record.kind)
    return "" if kind is None else kind.summary(record)


def _when(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _state(state: JobState) -> Text:
    return Text(state.value, style=STATE_STYLES[state])


def _bar(fraction: float, width: int = 20) -> Text:
    filled = round(min(max(fraction, 0.0), 1.0) * width)
    bar = Text("█" * filled, style="green").append("░" * (width - filled), style="dim")
    return bar.append(f" {fraction:4.0%}")


def _jobs_table(records: list[JobRecord]) -> Table:
    table = Table(title=f"{len(records)} jobs")
    for column in ("id", "kind", "inputs", "state", "progress", "created", "finished", "error"):
        table.add_column(column, overflow="fold" if column in ("inputs", "error") else "ellipsis")
    for record in records:
        table.add_row(
            record.id[:8],
            record.kind,
            _summary(record),
            _state(record.state),
            _bar(record.progress.overall),
            _when(record.created_at),
            _when(record.finished_at),
            record.error or "",
        )
    return table


@jobs_app.command("list")
def list_jobs(
    kind: Annotated[
        str | None, typer.Option(help="Only jobs of this kind (e.g. track).", show_default="all")
    ] = None,
    db: DbOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every job kept in the database, oldest first, with its progress."""
    with _repository(config, db) as repo:
        records = repo.list(kind=kind)
    if as_json:
        out.print_json(json.dumps([record.model_dump(mode="json") for record in records]))
    else:
        out.print(_jobs_table(records))


def _items_table(record: JobRecord) -> Table:
    table = Table(title="items")
    for column in ("item", "state", "progress", "done", "steps", "error"):
        table.add_column(column, overflow="fold" if column in ("item", "error") else "ellipsis")
    for item in record.progress.items:
        ended = item.state in ("done", "skipped", "failed")
        fraction = 1.0 if ended else min(item.units_done / max(item.units_total, 1), 0.99)
        table.add_row(
            item.name,
            item.state.value,
            _bar(fraction),
            f"{item.units_done}/{item.units_total}",
            f"{item.steps_done}/{item.steps_total}",
            item.error or "",
        )
    return table


@jobs_app.command("show")
def show_job(
    job_id: JobId, db: DbOption = None, config: ConfigOption = None, as_json: JsonOption = False
) -> None:
    """One job: state, times, progress per item, result or error."""
    with _repository(config, db) as repo:
        record = _find(repo, job_id)
    if as_json:
        out.print_json(record.model_dump_json())
        return
    out.print(f"[bold]{record.id}[/bold]  {record.kind}: {_summary(record)}")
    out.print(Text("state: ").append(_state(record.state)))
    out.print(
        f"created {_when(record.created_at)}, started {_when(record.started_at) or '-'}, "
        f"finished {_when(record.finished_at) or '-'}"
    )
    out.print(_bar(record.progress.overall))
    if record.progress.items:
        out.print(_items_table(record))
    if record.error:
        out.print(f"[red]error:[/red] {record.error}")
    if record.result is not None:
        out.print_json(json.dumps(record.result))


@jobs_app.command("cancel")
def cancel_job(job_id: JobId, db: DbOption = None, config: ConfigOption = None) -> None:
    """Cancel a job: a queued one at once, a running one after its current step."""
    with _repository(config, db) as repo:
        record = _find(repo, job_id)
        outcome = repo.request_cancel(record.id)
        if outcome is None:  # deleted between the two reads
            raise JobNotFound(record.id)
        after, accepted = outcome
        if not accepted:
            raise JobAlreadyFinished(record.id, after.state)
    if after.state == JobState.CANCELLED:
        out.print(f"job {after.id} cancelled")
    else:
        out.print(f"job {after.id} is cancelling: it stops after its current step")
