"""The `vigil` command's entry point (`python -m vigil` and the installed script).

`vigil activity ...` builds only the activity commands: vigil.cli imports every command's
dependencies (live cameras, anonymisation, the stores: ~1.4 s on an idle machine here) where the
activity commands need ~0.2 s, a sixth of a minute-long file's analysis. Every other command
goes through vigil.cli as before."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> None:
    if sys.argv[1:2] == ["activity"]:
        _activity_only()
        return
    from vigil.cli import app

    app()


def _activity_only() -> None:
    """The same `activity` group as vigil.cli's, under a root with only it."""
    import typer

    from vigil.activity.cli import activity_app

    root = typer.Typer(no_args_is_help=True, add_completion=False)

    @root.callback()
    def _root() -> None:
        """Vigil: people-centric video analytics (here, only the activity commands are loaded)."""

    root.add_typer(activity_app, name="activity")
    root()
