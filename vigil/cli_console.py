"""The console every `vigil` command writes its errors, logs and progress to: standard error, with
`print`'s lines left whole. Rich cuts lines at 80 columns when stderr is not a terminal, so an
error with a long path came out in pieces in a log or a pipe, where a reader greps for it."""

from __future__ import annotations

from rich.console import Console


def error_console() -> Console:
    """Standard error; `print` does not wrap (a terminal wraps long lines itself). Progress bars and
    log records are laid out as usual."""
    return Console(stderr=True, soft_wrap=True)
