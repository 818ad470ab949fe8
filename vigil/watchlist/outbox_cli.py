"""`vigil watchlist outbox`: what waits for the external registry (UPR_API_URL), what was given up
on and why, and sending the failed messages again once the registry or its key is fixed."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vigil.cli_console import error_console
from vigil.config import load_settings
from vigil.errors import VigilError
from vigil.store.database import connect
from vigil.watchlist.outbox_store import OutboxStore

out = Console()
err = error_console()


def outbox(
    retry_failed: Annotated[
        bool,
        typer.Option("--retry-failed", help="Queue the failed messages again (after fixing the registry)."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    db: Annotated[
        str | None, typer.Option("--db", help="Database URL.", show_default="the configured store")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML settings file.")] = None,
) -> None:
    """Messages for the external registry: pending, delivered and failed, with each failure's error."""
    try:
        settings = load_settings(config)
        database = connect(db or settings.resolved_db_url)
    except VigilError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    try:
        store = OutboxStore(database)
        if retry_failed:
            err.print(f"{store.retry_failed(datetime.now(UTC))} failed message(s) queued again")
        _show(store, as_json)
    finally:
        database.dispose()


def _show(store: OutboxStore, as_json: bool) -> None:
    counts, failed = store.counts(), store.failed()
    if as_json:
        rows = [{"message": m.model_dump(mode="json"), "error": error} for m, error in failed]
        out.print_json(json.dumps({**asdict(counts), "failed_messages": rows}))
        return
    out.print(f"pending {counts.pending}, delivered {counts.delivered}, failed {counts.failed}")
    if failed:
        table = Table("message", "event", "person", "camera", "queued", "last error")
        for message, error in failed:
            table.add_row(
                str(message.message_id), message.event, escape(message.person_name),
                escape(message.camera), message.queued_at.isoformat(timespec="seconds"), escape(error),
            )  # fmt: skip
        out.print(table)
