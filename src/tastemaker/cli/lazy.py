"""Commands whose modules are imported only when they run, so the CLI starts fast.

A command group lists its sub-commands as ``name -> ("module:attribute", short help)``;
the attribute is a `typer.Typer` (a sub-group) or a plain function (one command). The
root help lists the short helps without importing anything; models, faiss, scikit-learn
and friends are imported by the command that runs only. Shell completion is installed
by the root command only, so no sub-command lists ``--install-completion``.
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar

import click
import typer
from typer.core import TyperGroup

# name -> ("module:attribute", one-line help shown by the root help).
LazyCommands = dict[str, tuple[str, str]]


class LazyGroup(TyperGroup):
    """A click group that resolves its registered lazy commands on first use."""

    lazy_commands: ClassVar[LazyCommands] = {}

    def list_commands(self, ctx: Any) -> list[str]:
        """Eager commands first, then the lazy ones, in registration order."""
        eager = super().list_commands(ctx)
        return eager + [n for n in self.lazy_commands if n not in eager]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """A placeholder carrying the short help (for listings); nothing is imported."""
        entry = self.lazy_commands.get(cmd_name)
        if entry is None:
            return super().get_command(ctx, cmd_name)
        return click.Command(cmd_name, help=entry[1], short_help=entry[1])

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        """Import the module behind the command about to run (or show its own help)."""
        name, command, rest = super().resolve_command(ctx, args)
        entry = self.lazy_commands.get(name or "")
        if entry is not None:
            command = load_command(name or "", entry[0])
        return name, command, rest


def load_command(name: str, target: str) -> Any:
    """Turn ``"module:attribute"`` into a click command named ``name``."""
    module_name, _, attribute = target.partition(":")
    obj: Any = getattr(importlib.import_module(module_name), attribute)
    command: Any
    if isinstance(obj, typer.Typer):
        command = typer.main.get_group(obj)
    else:
        single = typer.Typer(add_completion=False)
        single.command(name)(obj)
        command = typer.main.get_command(single)
    command.name = name
    return command


def lazy_typer(commands: LazyCommands, **kwargs: Any) -> typer.Typer:
    """A Typer app whose sub-commands ``commands`` are imported on use."""
    group = type("Group", (LazyGroup,), {"lazy_commands": dict(commands)})
    app = typer.Typer(cls=group, **kwargs)
    # A callback makes Typer build a group even before any command is resolved.
    app.callback()(_no_op)
    return app


def _no_op() -> None:
    pass
