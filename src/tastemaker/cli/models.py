"""`tastemaker models list|show|promote|rollback|canary|shadow`: the model registry.

A canary is an experiment (``canary-<version>``, see ``tastemaker.experiments``): one
routing mechanism serves canaries and A/B tests alike.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tastemaker.cli.common import WorkspaceOpt, console, fail, opened
from tastemaker.errors import NotFoundError, TastemakerError
from tastemaker.experiments.definition import canary_experiment, canary_key
from tastemaker.experiments.store import EXPERIMENTS_DIR, ExperimentStore
from tastemaker.registry.registry import ModelRegistry, RegistryState

app = typer.Typer(help="Model versions: list, inspect, promote, roll back, canary, shadow.")
Version = Annotated[str, typer.Argument(help="A model version, e.g. v0003.")]


def _registry(workspace: Path) -> ModelRegistry:
    with opened(workspace) as ws:
        return ModelRegistry(ws.settings.path(ws.settings.models_dir))


def _experiments(workspace: Path) -> ExperimentStore:
    with opened(workspace) as ws:
        return ExperimentStore(ws.root / EXPERIMENTS_DIR, check_seconds=0)


def canaries(workspace: Path, state: RegistryState) -> dict[str, float]:
    """Version -> percent of users of every running canary experiment (and of a canary
    still named in ``registry.json``, as the engine reads it)."""
    found = {}
    if state.canary is not None and state.canary.share > 0:
        found[state.canary.version] = state.canary.share
    for exp in _experiments(workspace).list():
        model = exp.variants[-1].serving.model_version
        if exp.key == canary_key(str(model)) and exp.is_running():
            total = sum(v.weight for v in exp.variants)
            found[str(model)] = round(100 * exp.variants[-1].weight / total, 6)
    return found


def _show_state(workspace: Path, state: RegistryState) -> None:
    canary = ", ".join(f"{v} ({s:g}%)" for v, s in canaries(workspace, state).items()) or "-"
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
    _show_state(workspace, state)


@app.command("list")
def list_versions(workspace: WorkspaceOpt = Path(".")) -> None:
    """Every version with its model, data range, key metric and role."""
    reg = _registry(workspace)
    state = reg.state()
    table = Table(title=f"model versions in {reg.root}")
    for col in ("version", "created", "model", "events", "data end", "ndcg@10", "role"):
        table.add_column(col)
    shares = canaries(workspace, state)
    for name in reg.versions():
        m = reg.manifest(name)
        roles = [r for r, v in (("active", state.active), ("shadow", state.shadow)) if v == name]
        if name in shares:
            roles.append(f"canary {shares[name]:g}%")
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
    """Serve ``version`` to everyone (running servers pick it up within a second); its
    canary experiment, if any, stops."""
    reg = _registry(workspace)
    _run(f"promoted {version}", workspace, lambda: reg.promote(version))
    _stop_canary(workspace, version)


def _stop_canary(workspace: Path, version: str) -> None:
    with contextlib.suppress(NotFoundError):  # no canary of it to stop
        _experiments(workspace).stop(canary_key(version))


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
    """Serve ``version`` to a stable, hash-based share of users: writes the experiment
    ``canary-<version>`` (control: the active version; treatment: ``version``)."""
    reg = _registry(workspace)

    def start() -> RegistryState:
        if not 0 <= share <= 100:
            raise fail(f"canary share must be 0..100 percent, got {share}")
        if share > 0:
            reg.check_schema(version)
            _experiments(workspace).put(canary_experiment(version, share))
        else:
            _stop_canary(workspace, version)
        state = reg.state()  # a canary of registry.json (before experiments) ends here
        if state.canary is not None and state.canary.version == version:
            state = reg.set_canary(version, 0)
        return state

    _run(f"canary {version} at {share:g}%", workspace, start)


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
