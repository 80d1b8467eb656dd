"""`tastemaker tune`: grid search on a validation split carved from the training part only."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import polars as pl
import typer
from rich.progress import Progress

from tastemaker.cli.common import choice_enum, console, fail, opened
from tastemaker.errors import TastemakerError
from tastemaker.evaluation.metrics import ACCURACY_METRICS
from tastemaker.evaluation.protocols import marketplace_interactions, ml100k_interactions
from tastemaker.evaluation.splits import SplitKind, make_split
from tastemaker.evaluation.tuning import (
    DEFAULT_GRIDS,
    TUNING_RECORD,
    TuneResult,
    data_fingerprint,
    tune,
    write_record,
)
from tastemaker.models import MODELS
from tastemaker.models.interactions import Interactions

# choices from the model catalog and the metric code (imported only when `tune` runs)
if TYPE_CHECKING:
    ModelName = StrEnum
    MetricName = StrEnum
else:
    ModelName = choice_enum("ModelName", MODELS)
    MetricName = choice_enum("MetricName", ACCURACY_METRICS)

SPLIT_HELP = (
    "Outer split (default: temporal-user for a workspace, as `evaluate`; random for "
    "MovieLens; temporal for the marketplace). Validation is carved from its training part "
    "the same way (temporal kinds) or at random."
)


def tune_command(
    model: Annotated[ModelName, typer.Option("--model", "-m", help="The model to tune.")],
    workspace: Annotated[
        Path | None, typer.Option("--workspace", "-w", help="Workspace to read events from.")
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option(
            help="Public data set instead: movielens (any release, --data DIR), ml-100k "
            "(movielens from ../shared/data/ml-100k unless --data) or marketplace."
        ),
    ] = None,
    data: Annotated[Path | None, typer.Option(help="Folder of the data set.")] = None,
    split: Annotated[SplitKind | None, typer.Option(help=SPLIT_HELP)] = None,
    seed: Annotated[int, typer.Option(help="Seed of the outer split.")] = 0,
    metric: Annotated[MetricName, typer.Option(help="Metric to maximize.")] = MetricName("ndcg"),
    k: Annotated[int, typer.Option(help="Cut-off.")] = 10,
    grid: Annotated[str | None, typer.Option(help='JSON grid, e.g. {"l2": [100, 500]}.')] = None,
    out: Annotated[Path | None, typer.Option(help="Where to write the JSON record.")] = None,
) -> None:
    """Tune a model's hyperparameters on validation carved from the training part only."""
    try:
        grid_dict = json.loads(grid) if grid else DEFAULT_GRIDS.get(model)
        inter, items, reports, kind = _source(workspace, dataset, data, split)
        outer = make_split(inter, kind, seed=seed)
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task(f"tuning {model}", total=None)
            result = tune(
                outer.train,
                model,
                grid_dict,
                metric=metric,
                k=k,
                split=kind if kind in (SplitKind.temporal, SplitKind.temporal_user) else "random",
                seed=seed,
                items=items,
                progress=lambda d, t: bar.update(task, completed=d, total=t),
            )
    except TastemakerError as exc:
        raise fail(exc.message) from exc
    result.context = {"dataset": dataset or str(workspace), "outer_split": outer.describe()}
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    path = result.save(out or reports / "tuning" / f"{model}-{stamp}.json")
    summary: dict[str, Any] = {
        "best_params": result.best_params,
        "best_value": result.best_value,
        "searched": result.grid,
    }
    if workspace is not None:  # the workspace's record that train and evaluate use
        tuning = write_record(reports / TUNING_RECORD, result, grid_dict or {},
                              data_fingerprint(inter))  # fmt: skip
        summary["tuning_record"] = str(tuning)
    summary.update(trials=len(result.trials), record=str(path))
    _say(result, str(model), summary)


def _say(result: TuneResult, model: str, summary: dict[str, Any]) -> None:
    """Print the summary JSON, then each grid extension and any value still at an edge."""
    console.print_json(json.dumps(summary))
    for note in result.extensions:
        console.print(f"[bold yellow]EXTENDED[/bold yellow] {model}: {note}")
    for warning in result.edge_warnings:
        console.print(f"[bold red]WARNING[/bold red] {warning}")


def _source(
    workspace: Path | None, dataset: str | None, data: Path | None, split: SplitKind | None
) -> tuple[Interactions, pl.DataFrame | None, Path, str]:
    """Interactions, catalog, reports folder and default outer split of the chosen source."""
    if workspace is not None:
        with opened(workspace) as ws:
            inter = Interactions.from_events(ws.store.events(), ws.settings.event_weights)
            items = ws.store.items()
            return inter, items, ws.settings.path(ws.settings.reports_dir), split or "temporal-user"
    if dataset in ("ml-100k", "movielens"):
        if dataset == "movielens" and data is None:
            raise fail("--dataset movielens needs --data DIR (a MovieLens folder)")
        return ml100k_interactions(data), None, Path("reports"), split or "random"
    if dataset == "marketplace":
        inter, items = marketplace_interactions()
        return inter, items, Path("reports"), split or "temporal"
    raise fail("pass --workspace or --dataset movielens|ml-100k|marketplace")
