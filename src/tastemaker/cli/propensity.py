"""`tastemaker propensity train|list|promote|rollback|score`: purchase propensity."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from tastemaker.cli.common import WorkspaceOpt, console, err_console, fail, opened
from tastemaker.errors import TastemakerError
from tastemaker.propensity.examples import LabelSpec
from tastemaker.propensity.features import PropensityWindows

if TYPE_CHECKING:
    from tastemaker.propensity.training import TrainResult

app = typer.Typer(help="Purchase propensity: train and evaluate, version, score.")


class PropensityModelKind(StrEnum):
    """Which model `propensity train` serves (`PropensityConfig.model`)."""

    auto = "auto"
    lightgbm = "lightgbm"
    logistic = "logistic"


class Calibration(StrEnum):
    """How the calibration slice maps scores to probabilities (`PropensityModel`)."""

    isotonic = "isotonic"
    sigmoid = "sigmoid"
    none = "none"


@app.command("train")
def train(
    workspace: WorkspaceOpt = Path("."),
    model: Annotated[
        PropensityModelKind,
        typer.Option(help="The model to serve; auto: the better on the test slice."),
    ] = PropensityModelKind.auto,
    horizon_days: Annotated[
        float, typer.Option(help="A purchase within this is a positive.")
    ] = 3.0,
    user_days: Annotated[
        float, typer.Option(help="User feature window (<= profile window).")
    ] = 7.0,
    item_days: Annotated[float, typer.Option(help="Item popularity window.")] = 30.0,
    step_days: Annotated[float, typer.Option(help="Days between cutoffs.")] = 1.0,
    test_days: Annotated[float, typer.Option(help="Days of cutoffs held out for testing.")] = 5.0,
    calibration_days: Annotated[
        float, typer.Option(help="Days of cutoffs to stop boosting and calibrate on.")
    ] = 3.0,
    calibration: Annotated[
        Calibration, typer.Option(help="Probability calibration.")
    ] = Calibration.isotonic,
    promote: Annotated[
        bool,
        typer.Option(help="Serve the new version at once (only if it beats the base rate)."),
    ] = False,
    seed: int = 0,
) -> None:
    """Build point-in-time examples, evaluate out of time against a logistic baseline and
    the base rate, save the chosen model as a new version; with --promote, serve it if it
    beats the base rate out of time (log loss and Brier), else exit 1 saying why."""
    from tastemaker.propensity.training import PropensityConfig, registry_of, train_propensity

    windows = PropensityWindows(user_days=user_days, item_days=item_days)
    cfg = PropensityConfig(
        model=model.value,
        windows=windows,
        labels=LabelSpec(horizon_days=horizon_days, step_days=step_days),
        test_days=test_days,
        calibration_days=calibration_days,
        calibration=calibration.value,
        seed=seed,
    )
    with opened(workspace) as ws:
        try:
            with console.status("building examples and training"):
                result = train_propensity(ws, cfg)
            registry = registry_of(ws)
            refusal = result.promotion_refusal()
            if promote and refusal is None and result.version is not None:
                registry.promote(result.version)
        except TastemakerError as exc:
            raise fail(exc.message) from exc
    _report(result, registry.root, promote=promote, refusal=refusal)


def _report(result: TrainResult, root: Path, *, promote: bool, refusal: str | None) -> None:
    """Print the metrics and what was saved; exit 1 when --promote was refused."""
    console.print(_metrics_table(result))
    top = sorted(result.importance.items(), key=lambda kv: -kv[1])[:5]
    console.print("strongest features: " + ", ".join(f"{n} {v:.2f}" for n, v in top))
    state = "and promoted" if promote and refusal is None else "(not promoted)"
    console.print(f"saved {result.version} ({result.model}) {state} in {root}")
    if refusal is not None:
        err_console.print(f"[bold red]warning:[/bold red] {refusal}")
        if promote:
            raise fail(f"not promoted: {refusal}", code=1)
    elif not promote:
        console.print(f"promote it with `tastemaker propensity promote {result.version}`")


_COLUMNS = (
    "model",
    "rows",
    "buys",
    "AUC (95% CI)",
    "PR AUC",
    "log loss",
    "Brier",
    "ECE",
    "lift@10%",
)


def _metrics_table(result: TrainResult) -> Table:
    """One row per candidate model and the base rate, on the out-of-time test slice."""
    table = Table(
        title=f"out-of-time test ({result.examples:,} examples, {result.cutoffs} cutoffs)"
    )
    for col in _COLUMNS:
        table.add_column(col)
    for name, m in result.metrics.items():
        auc = f"{m['auc']:.3f} [{m['auc_low']:.3f}, {m['auc_high']:.3f}]" if "auc" in m else "-"
        cells = [f"{m[c]:.4f}" if c in m else "-" for c in ("pr_auc", "log_loss", "brier", "ece")]
        lift = f"{m['lift@10%']:.2f}" if "lift@10%" in m else "-"
        table.add_row(name, f"{m['rows']:,}", f"{m['positives']:,}", auc, *cells, lift)
    return table


@app.command("list")
def list_versions(workspace: WorkspaceOpt = Path(".")) -> None:
    """Propensity versions with their test metrics; the active one is marked."""
    from tastemaker.propensity.training import registry_of

    with opened(workspace) as ws:
        registry = registry_of(ws)
    active = registry.state().active
    table = Table(title=f"propensity versions in {registry.root}")
    for col in ("version", "created", "model", "data end", "auc", "log_loss", "role"):
        table.add_column(col)
    for name in registry.versions():
        m = registry.manifest(name)
        table.add_row(
            name,
            m.created_at,
            m.model,
            str(m.data.end or "-"),
            f"{m.metrics.get('auc', float('nan')):.4f}",
            f"{m.metrics.get('log_loss', float('nan')):.4f}",
            "active" if name == active else "",
        )
    console.print(table)


@app.command("promote")
def promote_version(
    version: Annotated[str, typer.Argument(help="A propensity version, e.g. v0002.")],
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Serve ``version`` (running servers pick it up on their next request)."""
    from tastemaker.propensity.training import registry_of

    with opened(workspace) as ws:
        try:
            state = registry_of(ws).promote(version)
        except TastemakerError as exc:
            raise fail(exc.message) from exc
    console.print(f"active: {state.active}")


@app.command("rollback")
def rollback(workspace: WorkspaceOpt = Path(".")) -> None:
    """Serve the previously active version again."""
    from tastemaker.propensity.training import registry_of

    with opened(workspace) as ws:
        try:
            state = registry_of(ws).rollback()
        except TastemakerError as exc:
            raise fail(exc.message) from exc
    console.print(f"active: {state.active}")


@app.command("score")
def score(
    user_id: Annotated[str, typer.Argument(help="The user id as the shop knows it.")],
    item_ids: Annotated[
        list[str] | None, typer.Argument(help="Items to score (default: the user's recent).")
    ] = None,
    workspace: WorkspaceOpt = Path("."),
    k: Annotated[int, typer.Option(help="At most this many items.")] = 20,
    at: Annotated[
        str | None, typer.Option(help="Score as of this ISO 8601 time (default: now).")
    ] = None,
) -> None:
    """Purchase probabilities for a user's items with the top reasons, as JSON."""
    from datetime import datetime

    from tastemaker.propensity.scorer import PropensityScorer, answer_dict, as_of_ms

    try:
        when = None if at is None else datetime.fromisoformat(at)
    except ValueError as exc:
        raise fail(f"--at '{at}' is not an ISO 8601 time") from exc
    with opened(workspace) as ws:
        try:
            scorer = PropensityScorer(ws)
            answer = scorer.score(
                ws.pseudonymizer.one(user_id), item_ids, k=k, now_ms=as_of_ms(when)
            )
        except TastemakerError as exc:
            raise fail(exc.message) from exc
    console.print_json(json.dumps(answer_dict(answer, user_id)))
