"""`tastemaker evaluate`: compare models offline on a workspace's events (or ML-100k)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tastemaker.cli.common import console, fail, opened
from tastemaker.errors import TastemakerError
from tastemaker.evaluation.runner import EvaluationResult, evaluate_models
from tastemaker.evaluation.table import COMPACT_COLUMNS, DEFAULT_COLUMNS, render_table
from tastemaker.evaluation.tuning import TUNING_RECORD, params_with_sources
from tastemaker.evaluation.workspace_eval import evaluate_workspace, save_result
from tastemaker.models.catalog import MODELS
from tastemaker.models.interactions import Interactions

if TYPE_CHECKING:
    from tastemaker.workspace import Workspace

DEFAULT_MODELS = "popularity,itemknn,als,ease"


def _parse_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def evaluate(
    workspace: Annotated[
        Path | None,
        typer.Option("--workspace", "-w", envvar="TASTEMAKER_WORKSPACE", help="Workspace folder."),
    ] = None,
    models: Annotated[
        str, typer.Option(help=f"Comma-separated models ('all' = {','.join(MODELS)}).")
    ] = DEFAULT_MODELS,
    split: Annotated[str, typer.Option(help="temporal, random or leave-last.")] = "temporal",
    k: Annotated[str, typer.Option("--k", help="Comma-separated cut-offs.")] = "10",
    report: Annotated[Path | None, typer.Option(help="HTML report path.")] = None,
    segment_by: Annotated[
        str | None, typer.Option(help="User attribute for the per-segment (fairness) view.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Split and bootstrap seed.")] = 0,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples.")] = 1000,
    dataset: Annotated[
        str | None, typer.Option(help="Evaluate a public data set instead: ml-100k.")
    ] = None,
    data: Annotated[Path | None, typer.Option(help="Folder of --dataset.")] = None,
    params: Annotated[
        str | None,
        typer.Option(help='Hyperparameters per model as JSON, e.g. {"ease": {"l2": 300}}.'),
    ] = None,
    ignore_tuning: Annotated[
        bool, typer.Option(help="Ignore the workspace's tuning record (`tastemaker tune`).")
    ] = False,
) -> None:
    """Split, train every model, print the metric table and write an HTML report."""
    names = list(MODELS) if models == "all" else _parse_list(models)
    options: dict[str, Any] = {
        "seed": seed,
        "segment_column": segment_by,
        "params": json.loads(params) if params else None,
        "n_bootstrap": bootstrap,
    }
    ks = [int(x) for x in _parse_list(k)]
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    try:
        with Progress(*columns, TimeElapsedColumn(), console=console, transient=True) as bar:
            task = bar.add_task("evaluating", total=len(names))
            options["progress"] = lambda name, done, total: bar.update(
                task, completed=done, description=name
            )
            if dataset == "ml-100k":
                result, html = _evaluate_ml100k(data, names, split, ks, report, options)
            elif workspace is not None:
                with opened(workspace) as ws:
                    options["params"] = _tuned(ws, names, options["params"], ignore_tuning)
                    result, html = evaluate_workspace(ws, names, split, ks, report=report,
                                                      **options)  # fmt: skip
            else:
                raise fail("pass --workspace (or --dataset ml-100k)")
    except TastemakerError as exc:
        raise fail(exc.message) from exc
    narrow = console.width < 110  # keep the table readable in an 80-column terminal
    console.print(render_table(result, COMPACT_COLUMNS if narrow else DEFAULT_COLUMNS))
    console.print(f"report: {html}  (json: {html.with_suffix('.json')})")


def _tuned(
    ws: Workspace, names: list[str], explicit: dict[str, Any] | None, ignore: bool
) -> dict[str, dict[str, Any]]:
    """Per-model parameters: the workspace's tuning record under ``--params``; says which."""
    record = None if ignore else ws.settings.path(ws.settings.reports_dir) / TUNING_RECORD
    out = {}
    for name in names:
        out[name], source = params_with_sources(record, name, (explicit or {}).get(name, {}))
        console.print(f"parameters of {name}: {json.dumps(out[name])} (from {source})")
    return out


def _evaluate_ml100k(
    data: Path | None,
    names: list[str],
    split: str,
    ks: list[int],
    report: Path | None,
    options: dict[str, Any],
) -> tuple[EvaluationResult, Path]:
    from tastemaker.datasets.movielens import load_movielens
    from tastemaker.evaluation.protocols import dataset_path

    loaded = load_movielens(dataset_path("ml-100k", data))
    inter = Interactions.from_events(loaded.events, item_ids=loaded.items["item_id"])
    result = evaluate_models(
        inter, names, split, ks, items=loaded.items, user_segments=loaded.users, **options
    )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return result, save_result(result, report or Path("reports") / f"evaluation-{stamp}.html")
