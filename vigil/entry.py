"""The `vigil` command's entry point (`python -m vigil` and the installed script).

`vigil activity ...` and `vigil anonymize ...` build only their own command: vigil.cli imports
every command's dependencies (live cameras, the stores, Alembic, supervision, SciPy: ~1.4-1.9 s
here) where these need ~0.2-0.4 s. That time is spent before any work starts: a sixth of a
minute-long file's activity analysis, and ~4% of anonymising 40 s of 720p video, whose worker
processes wait for it. Every other command goes through vigil.cli as before."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vigil.cli_typer import VigilTyper

__all__ = ["main"]


def main() -> None:
    command = sys.argv[1:2]
    if command == ["activity"]:
        _activity_only()
        return
    if command == ["anonymize"]:
        _anonymize_only()
        return
    from vigil.cli import app

    app()


def _activity_only() -> None:
    """The same `activity` group as vigil.cli's, under a root with only it."""
    from vigil.activity.cli import activity_app

    root = _root("activity")
    root.add_typer(activity_app, name="activity")
    root()


def _anonymize_only() -> None:
    """The same `anonymize` command as vigil.cli's, under a root with only it."""
    from vigil.anonymize.cli import anonymize

    root = _root("anonymize")
    root.command("anonymize")(anonymize)
    root()


def _root(only: str) -> VigilTyper:
    from vigil.cli_typer import VigilTyper

    root = VigilTyper(no_args_is_help=True, add_completion=False)

    @root.callback(help=f"Vigil: people-centric video analytics (here, only the {only} command is loaded).")
    def _callback() -> None:
        pass

    return root
