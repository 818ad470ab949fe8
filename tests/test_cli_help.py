"""`--help` of every `vigil` command, read as a user reads it.

Typer renders help texts as rich markup, which once swallowed every `[default: …]` written in
them (`vigil serve --help` printed "Listen address ."). Defaults now come from typer's own
`show_default`; these tests check that each help text is shown whole and each default shown,
and that help paragraphs are not broken where the source only wrapped its lines."""

from __future__ import annotations

import inspect
import itertools
import re
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from rich.text import Text
from typer.core import TyperGroup
from typer.testing import CliRunner

from vigil import entry
from vigil.batch.settings import BatchSettings
from vigil.cli import app
from vigil.cli_typer import HelpCommand, HelpGroup, unwrap_help
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


# Docstrings are wrapped at ~100 columns in the source; typer once kept those line breaks in every
# paragraph after the first, so help broke lines in mid-sentence at any terminal width. At this
# width no paragraph needs wrapping, so every line break shown is one the help text asks for.
# (Set on typer's console directly: it reads TERMINAL_WIDTH once, when it is first imported,
# which may be during another test's `WIDE` invocation.)
UNWRAPPED_WIDTH = 2000
BORDER = "╭│╰"


@pytest.fixture
def unwrapped_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(typer.rich_utils, "MAX_WIDTH", UNWRAPPED_WIDTH)


def unwrapped_help_of(path: tuple[str, ...]) -> list[str]:
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    return [line.strip() for line in result.output.splitlines()]


def description(lines: list[str]) -> list[list[str]]:
    """The paragraphs (lists of lines) between the usage line and the first panel."""
    start = next(i for i, line in enumerate(lines) if line.startswith("Usage:")) + 1
    end = next((i for i, line in enumerate(lines) if line and line[0] in BORDER), len(lines))
    paragraphs: list[list[str]] = [[]]
    for line in lines[start:end]:
        if line:
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    return [p for p in paragraphs if p]


def starts_a_list_item(line: str) -> bool:
    return re.match(r"([-*]|\d+[.)])\s", line) is not None


def docstring_lines(command: Any) -> list[str]:
    """The lines a command's docstring asks for: its paragraphs joined, list items apart, as
    plain text (without rich markup)."""
    doc = inspect.getdoc(command.callback) or ""
    shown = doc.partition("\f")[0]
    lines = []
    for paragraph in re.split(r"\n\s*\n", shown):
        items = re.split(r"\n(?=\s*(?:[-*]|\d+[.)])\s)", paragraph)
        lines += [" ".join(Text.from_markup(item).plain.split()) for item in items]
    return [line for line in lines if line]


@pytest.mark.usefixtures("unwrapped_width")
@pytest.mark.parametrize("path", PATHS, ids=lambda path: " ".join(path) or "vigil")
def test_help_paragraphs_are_not_broken_where_the_source_wrapped(path: tuple[str, ...]) -> None:
    lines = unwrapped_help_of(path)
    for paragraph in description(lines):
        for line in paragraph[1:]:
            assert starts_a_list_item(line), f"a paragraph broken before {line!r}:\n" + "\n".join(paragraph)
    command = command_at(path)
    if not isinstance(command, TyperGroup):
        for line in docstring_lines(command):
            assert line in lines, f"not on one line: {line!r}"


GROUPS = [
    p
    for p in PATHS
    if isinstance(command_at(p), TyperGroup) and not getattr(command_at(p), "help_shows_default", False)
]


@pytest.mark.usefixtures("unwrapped_width")
@pytest.mark.parametrize("path", GROUPS, ids=lambda path: " ".join(path) or "vigil")
def test_each_command_listed_by_a_group_is_one_row(path: tuple[str, ...]) -> None:
    listing = list(itertools.dropwhile(lambda line: "Commands" not in line, unwrapped_help_of(path)))
    rows = [line.strip("│ ") for line in listing[1:] if line.startswith("│")]
    names = set(command_at(path).commands)
    assert rows and all(row.split()[0] in names for row in rows), "\n".join(rows)


def test_every_command_and_group_unwraps_its_help() -> None:
    """A command or group made with a plain `typer.Typer` would show wrapped help again."""
    for path in PATHS:
        assert isinstance(command_at(path), HelpCommand | HelpGroup), " ".join(path)


def on_one_line(text: str, lines: list[str]) -> bool:
    return any(text in line for line in lines)


@pytest.mark.usefixtures("unwrapped_width")
@pytest.mark.parametrize("argv", [("anonymize",), ("activity",)], ids=" ".join)
def test_the_entry_points_fast_paths_show_help_unwrapped(
    argv: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`vigil anonymize` and `vigil activity` build their own root app (vigil.entry): the
    anonymize command's paragraphs and the activity group's listing of its commands."""
    monkeypatch.setattr(sys, "argv", ["vigil", *argv, "--help"])
    with pytest.raises(SystemExit) as exited:
        entry.main()
    assert exited.value.code == 0
    lines = [line.strip("│ ") for line in capsys.readouterr().out.splitlines()]
    command = command_at(argv)
    if isinstance(command, TyperGroup):  # each command's first paragraph, as the group lists it
        expected = [docstring_lines(sub)[0] for sub in command.commands.values()]
    else:
        expected = docstring_lines(command)
    wrapped = [line for line in expected if len(line) > 100]  # the source wrapped these
    assert wrapped, "nothing here shows that the source's line breaks are dropped"
    for line in expected:
        assert on_one_line(line, lines), f"not on one line: {line!r}"


def test_unwrap_help_keeps_paragraphs_list_items_and_verbatim_text() -> None:
    text = (
        "First paragraph,\nwrapped.\n\n"
        "Second paragraph\nwrapped, then a list:\n- one item,\n  continued\n* two\n12. three\n\n"
        "\bkept\n  as written\n\n"
        "last\nparagraph\fhidden\nfrom help"
    )
    assert unwrap_help(text) == (
        "First paragraph, wrapped.\n\n"
        "Second paragraph wrapped, then a list:\n- one item, continued\n* two\n12. three\n\n"
        "\bkept\n  as written\n\n"
        "last paragraph\fhidden\nfrom help"
    )
