"""Command groups for the `vigil` command line."""

from __future__ import annotations

from typing import Any, ClassVar

from typer.core import TyperGroup


class DefaultCommandGroup(TyperGroup):
    """A group that runs `default_command` when its arguments name no sub-command.

    `vigil visitors --loyal` then means `vigil visitors list --loyal`, while the group's own
    `--help` still lists the sub-commands. (A callback with options cannot do this: its options
    would have to be repeated on the sub-command, or be given before the sub-command's name.)"""

    default_command: ClassVar[str]

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer bundles its own click
        names_command = bool(args) and args[0] in self.commands
        asks_help = bool(args) and args[0] in ctx.help_option_names
        if not (names_command or asks_help):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


def default_command_group(name: str) -> type[DefaultCommandGroup]:
    """A `DefaultCommandGroup` class (for `typer.Typer(cls=…)`) that defaults to sub-command `name`."""
    return type(f"DefaultTo{name.title()}", (DefaultCommandGroup,), {"default_command": name})
