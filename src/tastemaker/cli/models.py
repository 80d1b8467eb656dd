"""`tastemaker models list|show|promote|rollback|canary|shadow`: the model registry."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tastemaker.cli.common import WorkspaceOpt, console, fail, opened
from tastemaker.errors import TastemakerError
from tastemaker.registry.registry import ModelRegistry, RegistryState

app = typer.Typer(help="Model versions: list, inspect, promote, roll back, canary, shadow.")
Version = Annotated[str, typer.Argument(help="A model version, e.g. v0003.")]


def _registry(workspace: Path) -> ModelRegistry:
    with opened(workspace) as ws:
        return ModelRegistry(ws.settings.path(ws.settings.models_dir))


def _show_state(state: RegistryState) -> None:
    canary = f"{state.canary.version} ({state.canary.share:g}%)" if state.canary else "-"
    console.print(
        f"active: {state.active or '-'}   canary: {canary}   shadow: {state.shadow or '-'}"
    )


def _run(action: str, workspace: Path, call: object) -> None:
    from tastemaker.cli.audit import record_cli

    what = f"models {action}"  # e.g. "models promoted v0003": the audit row's action
    try:
        state = call()  # type: ignore[operator]
    except TastemakerError as exc:
        record_cli(workspace, what, None, "error", error=exc.message)
        raise fail(exc.message) from exc
    record_cli(workspace, what, None, "ok")
    console.print(action)
    _show_state(state)


@app.command("list")
def list_versions(workspace: WorkspaceOpt = Path(".")) -> None:
    """Every version with its model, data range, key metric and role."""
    reg = _registry(workspace)
    state = reg.state()
    table = Table(title=f"model versions in {reg.root}")
    for col in ("version", "created", "model", "events", "data end", "ndcg@10", "role"):
        table.add_column(col)
    for name in reg.versions():
        m = reg.manifest(name)
        roles = [r for r, v in (("active", state.active), ("shadow", state.shadow)) if v == name]
        if state.canary and state.canary.version == name:
            roles.append(f"canary {state.canary.share:g}%")
        ndcg = m.metrics.get("ndcg@10")
        table.add_row(
            name,
            m.created_at,
            m.model,
            f"{m.data.events:,}",
            str(m.data.end or "-"),
            "-" if ndcg is None else f"{ndcg:.4f}",
            ", ".join(roles),
        )
    console.print(table)


@app.command("show")
def show(version: Version, workspace: WorkspaceOpt = Path(".")) -> None:
    """The manifest of a version as JSON."""
    try:
        manifest = _registry(workspace).manifest(version)
    except TastemakerError as exc:
        raise fail(exc.message) from exc
    console.print_json(manifest.model_dump_json())


@app.command("promote")
def promote(version: Version, workspace: WorkspaceOpt = Path(".")) -> None:
    """Serve ``version`` to everyone (running servers pick it up within a second)."""
    reg = _registry(workspace)
    _run(f"promoted {version}", workspace, lambda: reg.promote(version))


@app.command("rollback")
def rollback(workspace: WorkspaceOpt = Path(".")) -> None:
    """Return to the previously active version."""
    reg = _registry(workspace)
    _run("rolled back", workspace, reg.rollback)


@app.command("canary")
def canary(
    version: Version,
    share: Annotated[float, typer.Option(help="Percent of users (stable by user); 0 stops.")] = 10,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Serve ``version`` to a stable, hash-based share of users."""
    reg = _registry(workspace)
    _run(f"canary {version} at {share:g}%", workspace, lambda: reg.set_canary(version, share))


@app.command("shadow")
def shadow(
    version: Version,
    off: Annotated[bool, typer.Option("--off", help="Stop shadow scoring.")] = False,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Score every request with ``version`` too and log its list without serving it."""
    reg = _registry(workspace)
    target = None if off else version
    _run(f"shadow {'off' if off else version}", workspace, lambda: reg.set_shadow(target))
