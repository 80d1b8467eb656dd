"""`tastemaker experiments create|list|show|stop|analyze|power`: A/B experiments.

Definitions live in the workspace's ``experiments/`` folder, one ``<key>.yaml`` each;
running servers pick up a change within a second.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.table import Table

from tastemaker.cli.audit import record_cli
from tastemaker.cli.common import WorkspaceOpt, console, fail, opened
from tastemaker.cli.experiments_analyze import analyze_command, rebalance_command
from tastemaker.cli.experiments_power import power_command
from tastemaker.errors import TastemakerError
from tastemaker.experiments.definition import Experiment, parse_experiment
from tastemaker.experiments.store import EXPERIMENTS_DIR, ExperimentStore, check_model_versions
from tastemaker.registry.registry import ModelRegistry

app = typer.Typer(help="A/B experiments: create, list, show, stop, analyze, rebalance, power.")
Key = Annotated[str, typer.Argument(help="The experiment key.")]


def _store(workspace: Path) -> ExperimentStore:
    with opened(workspace) as ws:
        return ExperimentStore(ws.root / EXPERIMENTS_DIR, check_seconds=0)


def _registry(workspace: Path) -> ModelRegistry:
    with opened(workspace) as ws:
        return ModelRegistry(ws.settings.path(ws.settings.models_dir))


def _summary(exp: Experiment) -> str:
    arms = ", ".join(f"{v.name} {v.weight:g}" for v in exp.variants)
    return f"{exp.key} ({exp.status}): {arms}"


@app.command("create")
def create(
    file: Annotated[Path, typer.Argument(help="A YAML definition.", exists=True, dir_okay=False)],
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Validate a YAML definition and add it (or replace the one with its key)."""
    store = _store(workspace)
    try:
        exp = parse_experiment(yaml.safe_load(file.read_text()), str(file))
        check_model_versions(exp, _registry(workspace))
        store.put(exp)
    except yaml.YAMLError as exc:
        record_cli(workspace, "experiments create", file.name, "error", error="not valid YAML")
        raise fail(f"{file}: not valid YAML: {exc}") from exc
    except TastemakerError as exc:
        record_cli(workspace, "experiments create", file.name, "error", error=exc.message)
        raise fail(exc.message) from exc
    record_cli(workspace, "experiments create", exp.key, "ok", file=file.name)
    console.print(f"experiment saved: {_summary(exp)}")


@app.command("list")
def list_experiments(workspace: WorkspaceOpt = Path(".")) -> None:
    """Every experiment with its status, variants, targeting and primary metric."""
    store = _store(workspace)
    table = Table(title=f"experiments in {store.folder}")
    table.add_column("key", no_wrap=True)
    for col in ("status", "variants", "traffic", "start", "stop", "primary"):
        table.add_column(col)
    for exp in store.list():
        table.add_row(
            exp.key,
            exp.status if exp.is_running() or exp.status != "running" else "scheduled",
            ", ".join(f"{v.name} {v.weight:g}" for v in exp.variants),
            f"{exp.targeting.traffic:.0%}",
            exp.start.isoformat() if exp.start else "-",
            exp.stop.isoformat() if exp.stop else "-",
            exp.metrics.primary.metric,
        )
    console.print(table)
    for key, why in sorted(store.errors.items()):
        console.print(f"[red]left out[/red] {key}: {why}")


@app.command("show")
def show(key: Key, workspace: WorkspaceOpt = Path(".")) -> None:
    """The definition of ``key`` as YAML."""
    try:
        exp = _store(workspace).get(key)
    except TastemakerError as exc:
        raise fail(exc.message) from exc
    console.print(yaml.safe_dump(exp.model_dump(mode="json", exclude_none=True), sort_keys=False))


@app.command("stop")
def stop(key: Key, workspace: WorkspaceOpt = Path(".")) -> None:
    """Stop ``key``: its users return to the usual serving (exposures stay in the log)."""
    try:
        exp = _store(workspace).stop(key)
    except TastemakerError as exc:
        record_cli(workspace, "experiments stop", key, "error", error=exc.message)
        raise fail(exc.message) from exc
    record_cli(workspace, "experiments stop", key, "ok")
    console.print(f"experiment stopped: {_summary(exp)}")


# `analyze` (statistics) and `power` (traffic) live in their own modules
app.command("analyze")(analyze_command)
app.command("rebalance")(rebalance_command)
app.command("power")(power_command)
