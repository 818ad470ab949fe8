"""`vigil watchlist`: enrol people to look for (photos or a folder per person), list, show, remove.
It uses the same data directory and database as `vigil watch` and `vigil serve`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from vigil.cli_console import error_console
from vigil.cli_typer import VigilTyper
from vigil.config import load_settings
from vigil.errors import VigilError
from vigil.watchlist.errors import NoUsablePhoto
from vigil.watchlist.outbox_cli import outbox
from vigil.watchlist.service import Enrolment, Watchlist, read_photos

watchlist_app = VigilTyper(
    help="People to look for: add (from photos), import (a folder per person), list, show, remove; "
    "outbox: messages for the external registry (UPR_API_URL)."
)
out = Console()
err = error_console()

DbOption = Annotated[
    str | None, typer.Option("--db", help="Database URL.", show_default="the configured store")
]
ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="YAML settings file.")]


@contextmanager
def opened(config: Path | None, db: str | None) -> Iterator[Watchlist]:
    try:
        watchlist = Watchlist.open(load_settings(config), db)
    except VigilError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    try:
        yield watchlist
    except VigilError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    finally:
        watchlist.close()


def _report(enrolment: Enrolment) -> None:
    person = enrolment.person
    out.print(
        f"enrolled {person.name!r} ({person.id}) with {enrolment.accepted} reference photo(s)", markup=False
    )
    for refused in enrolment.refused:
        err.print(f"[yellow]refused[/yellow] {escape(str(refused))} (reason: {refused.reason})")


@watchlist_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The person's name.")],
    photos: Annotated[list[Path], typer.Argument(help="Reference photos (JPEG, PNG, WebP), one face each.")],
    notes: Annotated[str, typer.Option(help="Free-text notes.")] = "",
    category: Annotated[str, typer.Option(help="A category (e.g. missing, banned, staff).")] = "",
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Enrol NAME from PHOTO...: each photo needs exactly one usable face; refused ones are listed."""
    missing = [str(p) for p in photos if not p.is_file()]
    if missing:
        err.print(f"[red]error:[/red] not a file: {', '.join(missing)}")
        raise typer.Exit(1)
    with opened(config, db) as watchlist:
        _report(watchlist.enrol(name, read_photos(photos), notes, category))


@watchlist_app.command("import")
def import_dir(
    folder: Annotated[Path, typer.Argument(help="A folder with one sub-folder of photos per person.")],
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Enrol everyone of FOLDER: each sub-folder's name is a person's name, its photos their references."""
    if not folder.is_dir():
        err.print(f"[red]error:[/red] {folder} is not a folder")
        raise typer.Exit(1)
    people = sum(1 for p in folder.iterdir() if p.is_dir())
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with opened(config, db) as watchlist, Progress(*columns, console=err) as progress:
        task = progress.add_task("enrolling", total=people)

        def advance(name: str) -> None:
            progress.update(task, description=f"enrolling {name}")
            progress.advance(task)

        results = watchlist.import_dir(folder, advance)
    failed = 0
    for result in results:
        if isinstance(result, NoUsablePhoto):
            failed += 1
            err.print(f"[red]not enrolled:[/red] {escape(str(result))}")
        else:
            _report(result)
    if failed:
        raise typer.Exit(1)


@watchlist_app.command("list")
def list_people(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Everyone on the watchlist."""
    with opened(config, db) as watchlist:
        people = watchlist.repository.people()
    if as_json:
        rows = [
            {"id": str(p.id), "name": p.name, "category": p.category, "notes": p.notes,
             "references": p.references, "created_at": p.created_at.isoformat()}
            for p in people
        ]  # fmt: skip
        out.print_json(json.dumps(rows))
        return
    table = Table(title=f"Watchlist ({len(people)} people)")
    for column in ("id", "name", "category", "references", "enrolled"):
        table.add_column(column)
    for p in people:
        enrolled = p.created_at.astimezone().isoformat(timespec="seconds")
        table.add_row(str(p.id), escape(p.name), escape(p.category), str(p.references), enrolled)
    out.print(table)


@watchlist_app.command("show")
def show(
    person: Annotated[str, typer.Argument(help="Person id or exact name.")],
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """One person: notes and reference photos (files under <data_dir>/watchlist/)."""
    with opened(config, db) as watchlist:
        found = watchlist.repository.find(person)
        references = watchlist.repository.references(found.id)
        root = watchlist.repository.crops.root
    out.print(f"[bold]{escape(found.name)}[/bold]  {found.id}  category: {escape(found.category or '-')}")
    if found.notes:
        out.print(found.notes, markup=False)
    table = Table(title=f"{len(references)} reference(s)")
    for column in ("reference", "model", "quality", "source"):
        table.add_column(column)
    table.add_column("photo", overflow="fold")  # the whole path, on more lines if need be
    for ref in references:
        table.add_row(str(ref.id), ref.model, f"{ref.quality:.2f}", ref.source, str(root / ref.crop_path))
    out.print(table)


@watchlist_app.command("remove")
def remove(
    person: Annotated[str, typer.Argument(help="Person id or exact name.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Erase a person: their references, photos and embeddings (no row or file is left)."""
    with opened(config, db) as watchlist:
        found = watchlist.repository.find(person)
        if not yes:
            typer.confirm(f"remove {found.name!r} ({found.id}) and their photos?", abort=True)
        files = watchlist.repository.remove(found.id)
    out.print(f"removed {found.name!r} ({files} image files)", markup=False)


watchlist_app.command("outbox")(outbox)  # the external registry's messages (UPR_API_URL)
