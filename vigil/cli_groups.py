"""Command groups for the `vigil` command line."""

from __future__ import annotations

from typing import Any, ClassVar

from typer.core import TyperArgument

from vigil.cli_typer import HelpGroup


class DefaultCommandGroup(HelpGroup):
    """A group that runs `default_command` when its arguments name no sub-command.

    `vigil visitors --loyal` then means `vigil visitors list --loyal`, while the group's own
    `--help` still lists the sub-commands. (A callback with options cannot do this: its options
    would have to be repeated on the sub-command, or be given before the sub-command's name.)"""

    default_command: ClassVar[str]
    help_shows_default: ClassVar[bool] = False  # `--help` shows the default command's help

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer bundles its own click
        if self._goes_to_default(ctx, args):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)

    def _goes_to_default(self, ctx: Any, args: list[str]) -> bool:
        if not args:
            return True
        first = args[0]
        if first in self.commands:
            return False
        if first in ctx.help_option_names:
            return self.help_shows_default
        # A word that is no option is a mistyped command, unless the default takes arguments
        # (`vigil track VIDEO`): then click's "No such command" is the clearer answer.
        return first.startswith("-") or self._default_takes_arguments()

    def _default_takes_arguments(self) -> bool:
        command = self.commands.get(self.default_command)
        return command is not None and any(isinstance(p, TyperArgument) for p in command.params)


def default_command_group(name: str, help_shows_default: bool = False) -> type[DefaultCommandGroup]:
    """A `DefaultCommandGroup` class (for `VigilTyper(cls=…)`) that defaults to sub-command `name`."""
    attributes = {"default_command": name, "help_shows_default": help_shows_default}
    return type(f"DefaultTo{name.title()}", (DefaultCommandGroup,), attributes)
