"""The `typer.Typer` every `vigil` command and group is made with: help texts shown as paragraphs.

Typer (rich markup mode) joins a docstring's wrapped lines in its first paragraph only; the
later paragraphs kept the source's line breaks, so `vigil track --help` broke lines in
mid-sentence at any terminal width. Here every paragraph's wrapped lines are joined before typer
renders them, whichever way the help was given (docstring, `help=`, a group's callback)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup
from typer.models import CommandFunctionType

__all__ = ["HelpCommand", "HelpGroup", "VigilTyper", "unwrap_help"]

_Class = TypeVar("_Class", bound=type)

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_LIST_ITEM = re.compile(r"\s*([-*]|\d+[.)])\s")  # "- x", "* x", "1. x", "2) x" start their own line
_NO_REWRAP = "\b"  # click's marker for a paragraph printed as written


def unwrap_help(text: str) -> str:
    """`text` with each paragraph's wrapped lines joined into one line.

    Blank lines still separate paragraphs, list items still start a line, a paragraph that
    starts with click's `\\b` is kept as written, and what follows `\\f` (hidden from help) is
    left alone."""
    shown, cut, hidden = text.partition("\f")
    paragraphs = _PARAGRAPH_BREAK.split(shown.strip("\n"))
    return "\n\n".join(_unwrap_paragraph(p) for p in paragraphs) + cut + hidden


def _unwrap_paragraph(paragraph: str) -> str:
    if paragraph.startswith(_NO_REWRAP):
        return paragraph
    first, *rest = paragraph.split("\n")
    lines = [first.rstrip()]
    for line in rest:
        if _LIST_ITEM.match(line):
            lines.append(line.rstrip())
        else:  # a wrapped line, also a list item's indented continuation
            lines[-1] = f"{lines[-1]} {line.strip()}"
    return "\n".join(lines)


class HelpCommand(TyperCommand):
    """A command whose help and epilog are unwrapped (see `unwrap_help`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = unwrap_help(self.help) if self.help else self.help
        self.epilog = unwrap_help(self.epilog) if self.epilog else self.epilog


class HelpGroup(TyperGroup):
    """A group whose help and epilog are unwrapped (see `unwrap_help`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = unwrap_help(self.help) if self.help else self.help
        self.epilog = unwrap_help(self.epilog) if self.epilog else self.epilog


class VigilTyper(typer.Typer):
    """`typer.Typer` whose groups are `HelpGroup`s and whose commands are `HelpCommand`s.

    A `cls` given must be one of them (or a subclass), or its help would be shown wrapped."""

    def __init__(self, *, cls: type[TyperGroup] | None = None, **kwargs: Any) -> None:
        super().__init__(cls=_checked(cls or HelpGroup, HelpGroup), **kwargs)

    def command(
        self, name: str | None = None, *, cls: type[TyperCommand] | None = None, **kwargs: Any
    ) -> Callable[[CommandFunctionType], CommandFunctionType]:
        return super().command(name, cls=_checked(cls or HelpCommand, HelpCommand), **kwargs)


def _checked(cls: _Class, base: type) -> _Class:
    if not issubclass(cls, base):
        raise TypeError(f"{cls.__name__} is no {base.__name__}: its help would keep the source's line breaks")
    return cls
