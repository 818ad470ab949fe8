"""`vigil simulate-rtsp FILE`: serve a video file as an RTSP camera until Ctrl-C (seed 004's
scripts/simulate_rtsp.sh)."""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console

from vigil.cli_console import error_console
from vigil.errors import VigilError
from vigil.sources.rtsp_simulator import RtspSimulator, check_server_available

err = error_console()
out = Console(highlight=False, soft_wrap=True)  # the URL stays on one line, whole


def simulate_rtsp(
    file: Annotated[
        Path, typer.Argument(help="Video file to serve: H.264 or H.265 in MP4/MOV.", show_default=False)
    ],
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8554,
    path: Annotated[str, typer.Option(help="Stream path in the URL.")] = "stream",
    loop: Annotated[bool, typer.Option(help="Loop the file: a camera that never ends.")] = False,
    host: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
    audio: Annotated[
        bool, typer.Option(help="Also send the file's AAC track, as a camera with sound (not with --loop).")
    ] = False,
) -> None:
    """Serve a video file as an RTSP camera until Ctrl-C (the RTSP server the tests use).

    Needs Debian's GStreamer RTSP server (`make system-deps`). Sends the file without re-encoding.

    Without --loop each client gets the file once, from its start."""
    simulator = RtspSimulator(file, port, path, loop, host, audio)
    try:
        check_server_available()
        simulator.start()
    except VigilError as exc:
        err.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
        raise typer.Exit(1) from exc
    out.print(f"serving {file} as {simulator.url} (Ctrl-C stops)", markup=False)
    code = 0
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops as cleanly as Ctrl-C
    try:
        code = simulator.wait()
    except KeyboardInterrupt:
        err.print("stopping the RTSP server")
    finally:
        errors = simulator.stop()
    if code != 0:
        err.print(f"[red]error:[/red] the RTSP server stopped (exit code {code}):", highlight=False)
        err.print(errors.strip(), markup=False, highlight=False)
        raise typer.Exit(1)


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt
