"""Commands whose modules are imported only when they run, so the CLI starts fast.

A command group lists its sub-commands as ``name -> "module:attribute"``; the attribute
is a `typer.Typer` (a sub-group) or a plain function (one command). Models, faiss,
scikit-learn and friends are then imported by the commands that need them only.
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar

import typer
from typer.core import TyperGroup


class LazyGroup(TyperGroup):
    """A click group that resolves its registered lazy commands on first use."""

    lazy_commands: ClassVar[dict[str, str]] = {}

    def list_commands(self, ctx: Any) -> list[str]:
        """Eager commands first, then the lazy ones, in registration order."""
        eager = super().list_commands(ctx)
        return eager + [n for n in self.lazy_commands if n not in eager]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """Import the module behind ``cmd_name`` when it is asked for."""
        target = self.lazy_commands.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        return load_command(cmd_name, target)


def load_command(name: str, target: str) -> Any:
    """Turn ``"module:attribute"`` into a click command named ``name``."""
    module_name, _, attribute = target.partition(":")
    obj: Any = getattr(importlib.import_module(module_name), attribute)
    command: Any
    if isinstance(obj, typer.Typer):
        command = typer.main.get_group(obj)
    else:
        single = typer.Typer()
        single.command(name)(obj)
        command = typer.main.get_command(single)
    command.name = name
    return command


def lazy_typer(commands: dict[str, str], **kwargs: Any) -> typer.Typer:
    """A Typer app whose sub-commands ``commands`` are imported on use."""
    group = type("Group", (LazyGroup,), {"lazy_commands": dict(commands)})
    app = typer.Typer(cls=group, **kwargs)
    # A callback makes Typer build a group even before any command is resolved.
    app.callback()(_no_op)
    return app


def _no_op() -> None:
    pass
