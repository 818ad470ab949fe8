"""`--help` of every `vigil` command, read as a user reads it.

Typer renders help texts as rich markup, which once swallowed every `[default: …]` written in
them (`vigil serve --help` printed "Listen address ."). Defaults now come from typer's own
`show_default`; these tests check that each help text is shown whole and each default shown."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from vigil.batch.settings import BatchSettings
from vigil.cli import app
from vigil.config import VigilSettings, WebConfig

WIDE = {"COLUMNS": "250", "TERMINAL_WIDTH": "250"}  # rows are not wrapped into each other


def command_paths(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(command, TyperGroup):
        for name, sub in command.commands.items():
            yield from command_paths(sub, (*path, name))


def command_at(path: tuple[str, ...]) -> Any:
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    return command


def flat(text: str) -> str:
    """Help text without the panels' borders and line breaks, whitespace collapsed."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def help_of(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], env=WIDE)
    assert result.exit_code == 0, result.output
    return flat(result.output)


PATHS = list(command_paths(typer.main.get_command(app)))


def test_the_walk_reaches_every_command() -> None:
    names = {" ".join(path) for path in PATHS}
    expected = {"watch", "serve", "config", "models fetch", "models status", "track run", "track validate"}
    assert expected | {f"visitors {c}" for c in ("list", "show", "merge", "split", "erase", "purge")} <= names


@pytest.mark.parametrize("path", PATHS, ids=lambda path: " ".join(path) or "vigil")
def test_help_shows_every_parameter_whole_with_its_default(path: tuple[str, ...]) -> None:
    shown = help_of(path)
    for param in command_at(path).params:
        if param.help:  # a `[…]` in it read as markup would be cut out
            assert flat(param.help) in shown, f"{param.name}: help text cut"
        if isinstance(param.show_default, str):
            assert f"[default: ({param.show_default})]" in shown, f"{param.name}: default not shown"
    cut = re.search(r"\w [.,;](\s|$)", shown)  # "Listen address ." once
    assert cut is None, f"something was cut before {cut[0]!r}"


def option_default(path: tuple[str, ...], name: str) -> str:
    (param,) = (p for p in command_at(path).params if p.name == name)
    assert isinstance(param.show_default, str)
    return param.show_default


def test_serve_shows_the_address_it_listens_on() -> None:
    shown = help_of(("serve",))
    web = WebConfig()
    assert f"Listen address. [default: (web.host: {web.host})]" in shown
    assert f"TCP port. [default: (web.port: {web.port})]" in shown
    assert "127.0.0.1" in shown and "8000" in shown


def test_computed_defaults_are_those_of_the_settings() -> None:
    """The defaults named in help texts are the settings' defaults, so they cannot drift apart."""
    settings = VigilSettings()
    batch = BatchSettings.model_fields
    expected = {
        (("watch",), "fps"): f"analysis_fps: {settings.analysis_fps:g}",
        (("watch",), "detector"): f"detector.type: {settings.detector.type}",
        (("watch",), "realtime"): f"realtime: {'--realtime' if settings.realtime else '--no-realtime'}",
        (("watch",), "store"): f"store.enabled: {'--store' if settings.store.enabled else '--no-store'}",
        (("track", "run"), "engine"): f"track.engine or STEP5_TRACKING_ENGINE: {batch['engine'].default}"
        " (mediapipe_landmarker if installed, else yunet)",
        (
            ("track", "run"),
            "chunk_min",
        ): f"track.chunk_min or TRACKING_CHUNK_MIN: {batch['chunk_min'].default}",
        (
            ("track", "run"),
            "chunk_max",
        ): f"track.chunk_max or TRACKING_CHUNK_MAX: {batch['chunk_max'].default}",
    }
    for (path, name), text in expected.items():
        assert option_default(path, name) == text
