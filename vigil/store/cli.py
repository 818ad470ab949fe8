"""`vigil visitors`: recurring-visitor listings and identity repairs (merge, split, erase, purge)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from vigil.cli_console import error_console
from vigil.cli_groups import default_command_group
from vigil.cli_typer import VigilTyper
from vigil.config import VigilSettings, load_settings
from vigil.errors import VigilError
from vigil.store.analytics import (
    MAX_WINDOW_DAYS,
    SortKey,
    VisitorSummary,
    local_tz,
    parse_window,
    visitor_sightings,
    visitor_summaries,
)
from vigil.store.repository import IdentityStore

visitors_app = VigilTyper(
    cls=default_command_group("list"),
    help="Recurring visitors: list (loyal customers), show, merge, split, erase, purge. "
    "`vigil visitors [OPTIONS]` is short for `vigil visitors list [OPTIONS]`.",
)
out = Console()
err = error_console()

DbOption = Annotated[
    str | None, typer.Option("--db", help="Database URL.", show_default="the configured store")
]
ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="YAML settings file.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def window_option(text: str) -> int:
    """'7d', '2w' or '30' (days) -> days."""
    days = parse_window(text)
    if days is None:
        raise typer.BadParameter(f"window {text!r}: use e.g. 7d, 2w or 30, at most {MAX_WINDOW_DAYS} days")
    return days


def parse_visitor_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text.strip())
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r} is not a visitor id (a UUID)") from exc


@contextmanager
def opened_store(config: Path | None, db: str | None) -> Iterator[tuple[IdentityStore, VigilSettings]]:
    try:
        settings = load_settings(config)
        store = IdentityStore.open(settings, db)
    except VigilError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    try:
        yield store, settings
    except VigilError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    finally:
        store.close()


@visitors_app.command("list")
def list_visitors(
    loyal: Annotated[
        bool, typer.Option("--loyal", help="Only visitors seen on --date with ≥ --min-visits earlier visits.")
    ] = False,
    min_visits: Annotated[int, typer.Option(min=0, help="Visits needed in the window.")] = 1,
    window: Annotated[str, typer.Option(help="Window ending on --date: 7d, 2w, 30 (days).")] = "7d",
    day: Annotated[
        datetime | None,
        typer.Option("--date", formats=["%Y-%m-%d"], help="Day (local time).", show_default="today"),
    ] = None,
    sort: Annotated[str, typer.Option(help="arrival, visits or last_seen.")] = "arrival",
    limit: Annotated[int, typer.Option(min=1, max=10000, help="Rows per page.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Rows to skip.")] = 0,
    as_json: JsonOption = False,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """List visitors seen in a window; --loyal lists today's returning visitors ("clients fidèles")."""
    if sort not in ("arrival", "visits", "last_seen"):
        raise typer.BadParameter("sort must be arrival, visits or last_seen", param_hint="--sort")
    days = window_option(window)
    the_day: date = (day or datetime.now()).date()
    tz = local_tz()
    sort_key: SortKey = sort  # type: ignore[assignment]
    with opened_store(config, db) as (store, _), store.db.reader.connect() as conn:
        page = visitor_summaries(
            conn, the_day, tz, window_days=days, min_visits=min_visits, loyal=loyal,
            sort=sort_key, limit=limit, offset=offset,
        )  # fmt: skip
        root = store.crops.root
    if as_json:
        items = [_with_abs_paths(s.to_dict(), root) for s in page.items]
        out.print_json(json.dumps({"date": the_day.isoformat(), "total": page.total, "visitors": items}))
        return
    out.print(
        _table(page.items, root, f"{'Loyal visitors' if loyal else 'Visitors'} on {the_day} ({page.total})")
    )


def _with_abs_paths(data: dict[str, object], root: Path) -> dict[str, object]:
    for key in ("reference_photo", "today_photo", "image_path"):
        if data.get(key):
            data[key] = str(root / str(data[key]))
    return data


def _table(items: list[VisitorSummary], root: Path, title: str) -> Table:
    table = Table(title=title)
    for column in ("visitor", "name", "frequency", "arrival", "cameras"):
        table.add_column(column)
    for column in ("reference photo", "today's photo"):
        table.add_column(column, overflow="fold")  # whole paths, on more lines if need be
    for s in items:
        table.add_row(
            str(s.visitor_id),
            s.name or "",
            s.frequency,
            s.arrival.strftime("%H:%M:%S") if s.arrival else "",
            ", ".join(s.cameras),
            str(root / s.reference_photo) if s.reference_photo else "",
            str(root / s.today_photo) if s.today_photo else "",
        )
    return table


@visitors_app.command("show")
def show(
    visitor: Annotated[str, typer.Argument(help="Visitor id.")],
    as_json: JsonOption = False,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """One visitor's sighting timeline."""
    visitor_id = parse_visitor_id(visitor)
    with opened_store(config, db) as (store, _), store.db.reader.connect() as conn:
        rows = visitor_sightings(conn, visitor_id)
        root = store.crops.root
    if not rows:
        err.print(f"[red]error:[/red] no sightings for visitor {visitor_id}")
        raise typer.Exit(1)
    if as_json:
        out.print_json(json.dumps([_with_abs_paths(r.to_dict(), root) for r in rows]))
        return
    table = Table(title=f"Visitor {visitor_id}")
    for column in ("sighting", "captured at", "camera", "track", "quality", "similarity"):
        table.add_column(column)
    table.add_column("photo", overflow="fold")  # the whole path, on more lines if need be
    for r in rows:
        similarity = "" if r.similarity is None else f"{r.similarity:.3f}"
        photo = str(root / r.image_path) if r.image_path else ""
        table.add_row(
            str(r.sighting_id), r.captured_at.astimezone().isoformat(timespec="seconds"), r.camera or "",
            str(r.track_id), f"{r.quality:.2f}", similarity, photo,
        )  # fmt: skip
    out.print(table)


@visitors_app.command("merge")
def merge(
    keep: Annotated[str, typer.Argument(help="Visitor that remains.")],
    absorb: Annotated[str, typer.Argument(help="Visitor merged into KEEP, then removed.")],
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Two ids are the same person: move ABSORB's sightings to KEEP."""
    keep_id, absorb_id = parse_visitor_id(keep), parse_visitor_id(absorb)
    with opened_store(config, db) as (store, _):
        store.merge(keep_id, absorb_id)
    out.print(f"merged {absorb_id} into {keep_id}")


@visitors_app.command("split")
def split(
    visitor: Annotated[str, typer.Argument(help="Visitor holding two people.")],
    sightings: Annotated[list[str], typer.Argument(help="Sighting ids that belong to another person.")],
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Move the given sightings of VISITOR to a new visitor (see `vigil visitors show`)."""
    visitor_id = parse_visitor_id(visitor)
    ids = [parse_visitor_id(s) for s in sightings]
    with opened_store(config, db) as (store, _):
        new_id = store.split(visitor_id, ids)
    out.print(f"new visitor {new_id} with {len(ids)} sightings")


@visitors_app.command("erase")
def erase(
    visitor: Annotated[str, typer.Argument(help="Visitor to forget.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Right to erasure: delete every row and image of a person."""
    visitor_id = parse_visitor_id(visitor)
    if not yes:
        typer.confirm(f"erase visitor {visitor_id} and all their images?", abort=True)
    with opened_store(config, db) as (store, _):
        files = store.erase(visitor_id)
    out.print(f"erased visitor {visitor_id} ({files} image files)")


@visitors_app.command("purge")
def purge(
    days: Annotated[
        float | None, typer.Option(min=0, help="Retention in days.", show_default="store.retention_days")
    ] = None,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Apply the retention policy now: delete sightings and crops older than the retention."""
    with opened_store(config, db) as (store, _):
        if days is not None:
            store.config = store.config.model_copy(update={"retention_days": days})
        if store.config.retention_days <= 0:
            err.print("no retention configured (store.retention_days = 0): nothing to do; pass --days N")
            raise typer.Exit(1)
        sightings, visitors = store.apply_retention(datetime.now().astimezone())
    out.print(f"deleted {sightings} sightings and {visitors} visitors")
