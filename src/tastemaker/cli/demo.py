"""`tastemaker demo`: the main job end to end on the embedded default, in one command."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.panel import Panel

from tastemaker.cli.common import console, fail
from tastemaker.cli.demo_operations import forgettable_user, monitor_traffic, operate
from tastemaker.cli.generate import window_start
from tastemaker.cli.imports import import_file
from tastemaker.datasets.marketplace import generate_marketplace, write_marketplace
from tastemaker.workspace import Workspace

MARKER = ".tastemaker-demo"
#: Users served through the engine so the monitoring step has traffic to check.
MONITORED_USERS = 300


def _fresh_folder(path: Path) -> None:
    """Remove a previous demo workspace (only one this command made: it carries a marker)."""
    if path.exists():
        if not (path / MARKER).exists():
            raise fail(f"{path} exists and is not a demo workspace; choose another folder")
        shutil.rmtree(path)


def demo(
    workspace: Annotated[Path, typer.Argument(help="Folder for the demo workspace.")] = Path(
        "demo-workspace"
    ),
    users: Annotated[int, typer.Option(help="Synthetic users.")] = 5_000,
    items: Annotated[int, typer.Option(help="Synthetic items.")] = 2_000,
    days: Annotated[int, typer.Option(help="Days of events.")] = 30,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
) -> None:
    """Create a workspace, generate the synthetic marketplace, import it, train and evaluate."""
    _fresh_folder(workspace)
    began = time.perf_counter()
    ws = Workspace.init(workspace)
    (ws.root / MARKER).write_text("made by `tastemaker demo`; safe to delete\n")
    console.print(f"[bold]1.[/bold] workspace at {ws.root} ({ws.store.backend})")

    t = time.perf_counter()
    market = generate_marketplace(users, items, days, seed, start=window_start(days))
    files = write_marketplace(market, ws.root / "data", "parquet")
    console.print(
        f"[bold]2.[/bold] generated {market.events.height:,} events, {market.items.height:,} items,"
        f" {market.users.height:,} users in {time.perf_counter() - t:.1f} s -> {ws.root / 'data'}"
    )
    for kind in ("items", "users", "events"):
        t = time.perf_counter()
        summary = import_file(ws, kind, files[kind])
        console.print(
            f"[bold]3.[/bold] imported {kind}: {summary.accepted:,} accepted,"
            f" {summary.duplicates:,} duplicates, {summary.rejected:,} rejected"
            f" ({time.perf_counter() - t:.1f} s)"
        )
    for step in _later_steps():
        step(ws)
    user, item = suggested_pair(ws, market.events)
    forgotten = forgettable_user(market.events, keep=user)
    operate(ws, forget=forgotten)
    # returning users, the population the version's reference was drawn from
    active = market.events["user_id"].drop_nulls().unique().sort()
    others = active.filter(active != forgotten)
    visitors = others.sample(min(MONITORED_USERS, len(others)), seed=seed).to_list()
    monitor_traffic(ws, visitors, ws.settings.path(ws.settings.reports_dir) / "monitoring.html")
    calls = suggested_calls(ws, user, item)
    ws.close()
    console.print(
        Panel.fit(
            f"Demo ready in {time.perf_counter() - began:.0f} s.\n\n"
            f"  workspace   {ws.root}\n"
            f"  data files  {ws.root / 'data'}\n"
            f"  reports     {ws.settings.path(ws.settings.reports_dir)}\n\n"
            "Next:\n"
            f"  tastemaker doctor -w {workspace}\n"
            f"  tastemaker keys list -w {workspace}\n"
            f"  tastemaker audit -w {workspace}\n"
            f"  tastemaker monitor -w {workspace} --report monitoring.html\n"
            f"  tastemaker serve -w {workspace}      # then open http://127.0.0.1:8000/docs\n"
            + "".join(f"  curl 'http://127.0.0.1:8000{path}'\n" for path in calls),
            title="tastemaker demo",
        )
    )
    _simulate(ws.root / "simulation", min(users, 3000), seed)


def _simulate(folder: Path, users: int, seed: int) -> None:
    """A short simulated A/B test (random vs segment-personalized featured listing) on fresh
    synthetic users whose true tastes are known: the estimate beside the true effect."""
    from tastemaker.cli.simulate import describe, serving_process
    from tastemaker.simulation.ab import SimulationConfig, simulate_ab

    console.print(
        "[bold]11.[/bold] simulated A/B test: featured listing, random vs segment-personalized"
        f" (workspace {folder}; more: tastemaker simulate ab --help)"
    )
    with serving_process():
        report = simulate_ab(SimulationConfig(scenario="featured", users=users, seed=seed), folder)
    console.print(describe(report.to_dict()))


def suggested_pair(ws: Workspace, events: pl.DataFrame) -> tuple[str, str]:
    """A (raw user id, item id) worth showing: the latest add-to-cart by a user who is in a
    segment, so propensity has behaviour features and featured has a segment rule."""
    known = events.filter(pl.col("user_id").is_not_null() & pl.col("item_id").is_not_null())
    carts = known.filter(pl.col("type") == "add_to_cart").sort("timestamp", descending=True)
    for user, item in carts.select("user_id", "item_id").head(2_000).iter_rows():
        state = ws.profiles.state(ws.pseudonymizer.one(user))
        if state is not None and state.segments:
            return str(user), str(item)
    return str(known["user_id"][-1]), str(known["item_id"][-1])


def suggested_calls(ws: Workspace, user: str, item: str) -> list[str]:
    """The HTTP paths the demo suggests trying, for the suggested user and item (propensity
    only when a propensity model was promoted)."""
    from tastemaker.propensity.training import registry_of

    calls = [f"/v1/recommendations/{user}?k=5", f"/v1/featured?user_id={user}"]
    if registry_of(ws).state().active is not None:
        calls.append(f"/v1/propensity/{user}?item_id={item}")
    return calls


def _tune(ws: Workspace) -> None:
    """A quick tune of EASE on the workspace's own data: the record evaluate and train use."""
    from tastemaker.cli.tune import ModelName, tune_command

    console.print("[bold]3b.[/bold] tuning EASE's regularization on this workspace's events")
    tune_command(model=ModelName("ease"), workspace=ws.root, grid='{"l2": [100, 300, 1000]}')


def _evaluate(ws: Workspace) -> None:
    """Compare the main models on a per-user temporal split (each user's last 20% of events
    held out); print the table, write the HTML report."""
    from tastemaker.cli.evaluate import evaluate
    from tastemaker.evaluation.splits import SplitKind

    console.print(
        "[bold]4.[/bold] evaluating models on a per-user temporal split"
        " (each user's last 20% of events held out)"
    )
    evaluate(
        workspace=ws.root,
        models="popularity,itemknn,als,ease,hybrid",
        split=SplitKind.temporal_user,
        k="10,20",
        report=ws.settings.path(ws.settings.reports_dir) / "demo-evaluation.html",
        segment_by="age_band",
        seed=0,
        bootstrap=200,
        dataset=None,
        data=None,
    )


def _train(ws: Workspace) -> None:
    """Train the serving model on every event, register it and promote it."""
    from tastemaker.training.recommender import registry_of, train_version

    t = time.perf_counter()
    manifest = train_version(ws, "hybrid", {}, holdout=0.2)
    registry_of(ws).promote(manifest.version)
    console.print(
        f"[bold]5.[/bold] trained and promoted model version {manifest.version}"
        f" ({manifest.model}, {time.perf_counter() - t:.1f} s)"
    )


def _propensity(ws: Workspace) -> None:
    """Train the purchase-propensity model out of time; promote it if it beats the base rate."""
    from tastemaker.errors import ValidationFailedError
    from tastemaker.propensity.training import PropensityConfig, registry_of, train_propensity

    t = time.perf_counter()
    try:
        result = train_propensity(ws, PropensityConfig())
    except ValidationFailedError as exc:
        console.print(f"[bold]6.[/bold] purchase propensity skipped: {exc.message}")
        return
    assert result.version is not None
    refusal = result.promotion_refusal()
    if refusal is not None:
        console.print(f"[bold]6.[/bold] [bold red]propensity not promoted:[/bold red] {refusal}")
        return
    registry_of(ws).promote(result.version)
    m = result.metrics[result.model]
    base = result.metrics["base_rate"]
    console.print(
        f"[bold]6.[/bold] purchase propensity {result.version} ({result.model}): out-of-time AUC"
        f" {m['auc']:.3f} [{m['auc_low']:.3f}, {m['auc_high']:.3f}], log loss"
        f" {m['log_loss']:.4f} vs {base['log_loss']:.4f} for the base rate"
        f" ({time.perf_counter() - t:.1f} s)"
    )


def _later_steps() -> list[Callable[[Workspace], None]]:
    """Stages that run after import: tuning, evaluation, the served model, then propensity."""
    return [_tune, _evaluate, _train, _propensity]
