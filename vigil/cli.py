"""`vigil` command line: watch cameras, manage model files, show settings."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from rich.table import Table

from vigil import __version__
from vigil.activity.cli import activity_app
from vigil.anonymize.cli import anonymize
from vigil.batch.cli import track_app
from vigil.cli_console import error_console
from vigil.cli_typer import VigilTyper
from vigil.cluster.config import check_cluster_store
from vigil.config import CameraConfig, VigilSettings, load_settings
from vigil.detect.registry import detector_configs
from vigil.embed import FaceEmbedder
from vigil.errors import VigilError
from vigil.jobs.cli import jobs_app
from vigil.jobs.config import check_ray_address
from vigil.live.camera import CameraStatus
from vigil.live.events import EventSink, JsonlSink
from vigil.live.factory import default_embedder
from vigil.live.health import SourceState
from vigil.live.supervisor import Supervisor
from vigil.models import MODELS, fetch, is_installed
from vigil.redact import install_log_redaction, redact_json
from vigil.sources.simulate_cli import simulate_rtsp
from vigil.store.accounts_cli import keys_app, users_app
from vigil.store.cli import visitors_app
from vigil.store.identifier import StoreIdentifier
from vigil.store.repository import IdentityStore
from vigil.watchlist.cli import watchlist_app
from vigil.watchlist.outbox import registry_delivery
from vigil.watchlist.service import live_monitor

app = VigilTyper(
    help="Vigil: people-centric video analytics (live face pipeline, gated recognition).",
    no_args_is_help=True,
    add_completion=False,
)
models_app = VigilTyper(help="Model files that are not shipped in Python packages.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(visitors_app, name="visitors")
app.add_typer(track_app, name="track")
app.add_typer(jobs_app, name="jobs")
app.add_typer(watchlist_app, name="watchlist")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
app.add_typer(activity_app, name="activity")
app.command("simulate-rtsp")(simulate_rtsp)
app.command("anonymize")(anonymize)
err = error_console()
out = Console()

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML settings file (cameras, detector, ...).")
]


def _setup_logging(verbose: bool) -> None:
    install_log_redaction()  # no camera or database password in any log line
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False)],
    )


def _settings(config: Path | None, **overrides: object) -> VigilSettings:
    try:
        return load_settings(config, **{k: v for k, v in overrides.items() if v is not None})
    except VigilError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc


@app.callback(invoke_without_command=True)
def main(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        out.print(__version__)
        raise typer.Exit()


@app.command()
def watch(
    sources: Annotated[
        list[str] | None,
        typer.Argument(
            help="Files, rtsp:// or http:// URLs, /dev/videoN or usb:N.",
            show_default="the configured cameras: YAML, CAMERAS_IPS, CAMERAS_USB_MAX",
        ),
    ] = None,
    fps: Annotated[
        float | None, typer.Option(help="Analysis frames per second.", show_default="analysis_fps: 5")
    ] = None,
    realtime: Annotated[
        bool | None,
        typer.Option(
            "--realtime/--no-realtime",
            help="Play files at real pace, or as fast as possible.",
            show_default="realtime: --realtime",
        ),
    ] = None,
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds.", show_default="when the sources end")
    ] = None,
    events: Annotated[
        Path | None,
        typer.Option(help="Append JSON-lines events (track_started, face_embedded, track_ended)."),
    ] = None,
    detector: Annotated[
        str | None,
        typer.Option(
            help=f"Detector type: {', '.join(detector_configs())}.",
            show_default="detector.type: yunet",
        ),
    ] = None,
    loop: Annotated[bool, typer.Option(help="Loop file sources (simulated cameras).")] = False,
    db: Annotated[
        str | None,
        typer.Option(
            help="Identity store URL: sqlite:///… or postgresql://…",
            show_default="store.url, else sqlite:///<data_dir>/vigil.db",
        ),
    ] = None,
    store: Annotated[
        bool | None,
        typer.Option(
            "--store/--no-store",
            help="Assign visitor identities, store sightings.",
            show_default="store.enabled: --store",
        ),
    ] = None,
    recorded_at: Annotated[
        datetime | None,
        typer.Option(
            help="Files: wall-clock time of their first frame, e.g. 2026-11-20T18:30:00+01:00 "
            "(ingest recorded footage).",
            show_default="now",
            metavar="<datetime>",
            formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"],
        ),
    ] = None,
    config: ConfigOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Watch cameras or files headless, then print counters.

    Detects, tracks and embeds faces and assigns visitor identities (identity store).

    Exit code 0 when every source ran, 3 when at least one failed, 1 on bad settings."""
    _setup_logging(verbose)
    overrides: dict[str, object] = {"analysis_fps": fps, "realtime": realtime}
    if detector:
        overrides["detector"] = {"type": detector}
    settings = _settings(config, **overrides)
    cameras = [CameraConfig(url=s, loop=loop) for s in sources] if sources else settings.all_cameras()
    if not cameras:
        err.print("[red]error:[/red] no source given and no camera configured (see `vigil watch --help`)")
        raise typer.Exit(1)
    sinks: list[EventSink] = []
    identifier: StoreIdentifier | None = None
    embedder: FaceEmbedder | None = None
    try:
        sinks += [JsonlSink(events)] if events else []
        embedder = default_embedder(settings)
        if settings.store.enabled if store is None else store:
            identity_store = IdentityStore.open(settings, db)
            identifier = StoreIdentifier(identity_store)
            identity_store.tidy()
            if settings.watchlist.enabled:  # alert events go to the events file beside the others
                sinks += registry_delivery(settings, url=db)  # UPR_API_URL outbox, closed after the monitor
                sinks.append(live_monitor(settings, embedder.name, listeners=list(sinks), url=db))
        clock = _clock_from(recorded_at)
        supervisor = Supervisor(settings, cameras, sinks, clock, identifier=identifier, embedder=embedder)
    except (VigilError, OSError) as exc:  # e.g. a detector model is missing, --events not writable
        _close_all(sinks, identifier, embedder)
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    try:
        _run_with_progress(supervisor, duration)
    finally:
        _close_all(sinks, identifier, embedder)
    statuses = supervisor.status()
    out.print(_summary_table(statuses))
    failed = [n for n, s in statuses.items() if s.health.state is SourceState.FAILED]
    for name in failed:
        err.print(f"[red]camera {name} failed:[/red] {statuses[name].health.last_error}")
    if events:
        out.print(f"events written to {events}")
    raise typer.Exit(3 if failed else 0)


def _close_all(
    sinks: list[EventSink], identifier: StoreIdentifier | None, embedder: FaceEmbedder | None
) -> None:
    """Sinks in reverse order (the watchlist before the events file it writes to), then the rest."""
    for sink in [*reversed(sinks), *([identifier] if identifier else [])]:
        sink.close()
    if embedder is not None:
        embedder.close()


def _clock_from(recorded_at: datetime | None) -> Callable[[], float]:
    """A wall clock that reads `recorded_at` when the run starts (naive times are local)."""
    if recorded_at is None:
        return time.time
    offset = recorded_at.astimezone().timestamp() - time.time()
    return lambda: time.time() + offset


def _run_with_progress(supervisor: Supervisor, duration: float | None) -> None:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[info]}"),
    )
    with Progress(*columns, console=err, transient=False) as progress:
        tasks: dict[str, TaskID] = {
            p.name: progress.add_task(p.name, total=100, info="starting") for p in supervisor.pipelines
        }

        def refresh() -> None:
            for name, status in supervisor.status().items():
                c, h = status.counters, status.health
                info = (
                    f"{h.state.value} in {h.input_fps:.0f} fps, analysed {h.analysed_fps:.1f} fps, "
                    f"tracks {c.tracks_started}, embeddings {c.embeddings}, "
                    f"dropped {c.frames_dropped} frames, {c.embed_dropped_first} first faces, "
                    f"{c.embed_dropped_improvement} better faces"
                )
                completed = 100 * status.progress if status.progress is not None else None
                progress.update(tasks[name], completed=completed, info=info)

        supervisor.start()
        try:
            supervisor.wait(duration, on_tick=refresh)
        except KeyboardInterrupt:
            err.print("interrupted: stopping cameras")
            supervisor.stop()
        refresh()


def _summary_table(statuses: dict[str, CameraStatus]) -> Table:
    names = list(statuses)
    table = Table(title="Vigil summary")
    table.add_column("counter")
    for name in names:
        table.add_column(name, justify="right")
    table.add_row("state", *(statuses[n].health.state.value for n in names))
    table.add_row("reconnects", *(str(statuses[n].health.reconnects) for n in names))
    counters = [statuses[n].counters.to_dict() for n in names]
    for key in counters[0] if counters else []:
        table.add_row(key, *(str(values[key]) for values in counters))
    return table


@app.command()
def serve(
    sources: Annotated[
        list[str] | None,
        typer.Argument(
            help="Extra cameras for this run (files, rtsp://, http://, /dev/videoN, usb:N).",
            show_default=False,
        ),
    ] = None,
    loop: Annotated[bool, typer.Option(help="Loop the file sources given here (simulated cameras).")] = False,
    host: Annotated[
        str | None, typer.Option(help="Listen address.", show_default="web.host: 127.0.0.1")
    ] = None,
    port: Annotated[int | None, typer.Option(help="TCP port.", show_default="web.port: 8000")] = None,
    db: Annotated[
        str | None,
        typer.Option(
            help="Identity store URL: sqlite:///… or postgresql://…",
            show_default="store.url, else sqlite:///<data_dir>/vigil.db",
        ),
    ] = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            metavar="ADDRESS",
            help="Run the cameras as Ray actors on this cluster: auto, HOST:PORT of the head or "
            "ray://HOST:PORT (needs a PostgreSQL store; see docs/ray.md).",
            show_default="cluster.ray_address: cameras run in this process",
        ),
    ] = None,
    config: ConfigOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Run the web dashboard and REST API with the camera workers (open http://HOST:PORT/).

    Cameras: those added in the UI/API (stored in the database), the configured ones (YAML, CAMERAS_IPS,
    CAMERAS_USB_MAX) and SOURCES. The first start creates the `admin` account; its password comes from
    VIGIL_WEB__ADMIN_PASSWORD(_FILE) or is generated into <data_dir>/admin_password."""
    import uvicorn

    from vigil.web.app import create_web_app

    _setup_logging(verbose)
    settings = _settings(config)
    web = settings.web.model_copy(update={k: v for k, v in {"host": host, "port": port}.items() if v})
    extra = [CameraConfig(url=s, loop=loop) for s in sources or []]
    settings = settings.model_copy(update={"web": web, "cameras": [*settings.cameras, *extra]})
    try:
        if cluster is not None:
            ray_address = check_ray_address(cluster)
            update = {"cluster": settings.cluster.model_copy(update={"ray_address": ray_address})}
            settings = settings.model_copy(update=update)
        if settings.cluster.enabled:  # refused before the store is opened (an SQLite file created)
            check_cluster_store(db or settings.resolved_db_url)
        web_app = create_web_app(settings, db)
    except (VigilError, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    out.print(f"Vigil dashboard on http://{web.host}:{web.port}/  (API docs: /docs)")
    if (settings.data_dir / "admin_password").exists():
        out.print(f"log in as {web.admin_user!r}; password in {settings.data_dir / 'admin_password'}")
    # Open MJPEG/SSE streams never end on their own: give them 3 s, then shut down anyway.
    uvicorn.run(
        web_app,
        host=web.host,
        port=web.port,
        log_level="debug" if verbose else "info",
        timeout_graceful_shutdown=3,
        # C parser and loop: each MJPEG part costs about half the CPU of h11 + asyncio.
        http="httptools",
        loop="uvloop",
        # uvicorn would believe X-Forwarded-For from 127.0.0.1 (or FORWARDED_ALLOW_IPS): the app
        # honours it only from `web.trusted_proxies` (create_web_app), so uvicorn must not.
        proxy_headers=False,
    )


@models_app.command("fetch")
def models_fetch(
    name: Annotated[str, typer.Argument(help="Model to download: " + ", ".join(MODELS))] = "yunet",
    dest: Annotated[
        Path | None,
        typer.Option(help="Directory.", show_default="models_dir, shown by vigil models status"),
    ] = None,
    url: Annotated[str | None, typer.Option(help="Download from this mirror instead.")] = None,
    config: ConfigOption = None,
) -> None:
    """Download a model from its official location and verify its sha256."""
    if name not in MODELS:
        err.print(f"[red]error:[/red] unknown model {name!r}; choose from {', '.join(MODELS)}")
        raise typer.Exit(1)
    directory = dest or _settings(config).resolved_models_dir
    model = MODELS[name]
    with Progress(console=err) as progress:
        task = progress.add_task(f"download {model.filename}", total=None)
        try:
            path = fetch(
                model,
                directory,
                url,
                lambda done, total: progress.update(task, completed=done, total=total or None),
            )
        except VigilError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from exc
    out.print(f"{model.filename} verified (sha256 {model.sha256[:12]}…) at {path}")


@models_app.command("status")
def models_status(config: ConfigOption = None) -> None:
    """Show which model files are installed and verified."""
    directory = _settings(config).resolved_models_dir
    for key, model in MODELS.items():
        state = "installed" if is_installed(model, directory) else f"missing (run `vigil models fetch {key}`)"
        out.print(f"{key}: {directory / model.filename}: {state}")


@app.command("config")
def show_config(config: ConfigOption = None) -> None:
    """Print the effective settings (defaults < YAML < .env < environment) as JSON."""
    settings = _settings(config)
    out.print_json(json.dumps(redact_json(settings.model_dump(mode="json"))))
