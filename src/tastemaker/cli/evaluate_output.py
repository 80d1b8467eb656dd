"""What `tastemaker evaluate` reads (workspace, MovieLens folder, split files) and prints."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from rich.table import Table

from tastemaker.cli.common import console, opened
from tastemaker.errors import ValidationFailedError
from tastemaker.evaluation.result import EvaluationResult
from tastemaker.evaluation.seeds import SeedsResult
from tastemaker.evaluation.table import COMPACT_COLUMNS, DEFAULT_COLUMNS, render_table
from tastemaker.evaluation.tuning import TUNING_RECORD, params_with_sources
from tastemaker.models.interactions import Interactions


@dataclass
class Source:
    """Where the evaluation's data comes from: interactions (None when only split files
    are given), catalog, user attributes, the reports folder and the tuning record."""

    inter: Interactions | None
    items: pl.DataFrame | None
    users: pl.DataFrame | None
    reports: Path
    record: Path | None = None

    def record_entries(self, names: list[str]) -> dict[str, dict[str, Any]] | None:
        """The tuning record's entries of ``names`` (None when there is no record)."""
        if self.record is None or not self.record.is_file():
            return None
        entries = json.loads(self.record.read_text()).get("models", {})
        return {n: dict(e) for n, e in entries.items() if n in names}


def load_source(
    workspace: Path | None,
    dataset: str | None,
    data: Path | None,
    segment_by: str | None,
    ignore_tuning: bool,
    split_from: Path | None,
) -> Source:
    """Read the data of ``--dataset`` (a MovieLens folder), else of ``--workspace``.

    With ``--split-from`` alone there are no interactions: the files are the data.

    Raises:
        ValidationFailedError: none of --workspace, --dataset, --split-from.
    """
    if dataset is not None:
        return _movielens(dataset, data)
    if workspace is not None:
        from tastemaker.evaluation.workspace_eval import workspace_interactions

        with opened(workspace) as ws:
            inter, items = workspace_interactions(ws)
            users = ws.store.users() if segment_by else None
            reports = ws.settings.path(ws.settings.reports_dir)
        return Source(
            inter, items, users, reports, None if ignore_tuning else reports / TUNING_RECORD
        )
    if split_from is not None:
        return Source(None, None, None, Path("reports"))
    raise ValidationFailedError(
        "pass --workspace, --dataset ml-100k|movielens --data FOLDER, or --split-from FOLDER",
        field="workspace",
    )


def _movielens(dataset: str, data: Path | None) -> Source:
    """A MovieLens folder (100k, 1M or latest; every rating counts as one interaction)."""
    from tastemaker.datasets.movielens import load_movielens
    from tastemaker.evaluation.protocols import dataset_path

    if dataset != "ml-100k" and data is None:
        raise ValidationFailedError("--dataset movielens needs --data FOLDER", field="data")
    loaded = load_movielens(dataset_path("ml-100k", data))
    inter = Interactions.from_events(loaded.events, item_ids=loaded.items["item_id"])
    return Source(inter, loaded.items, loaded.users, Path("reports"))


def tuned_params(
    record: Path | None, names: list[str], explicit: dict[str, Any] | None
) -> dict[str, dict[str, Any]]:
    """Per-model parameters: the tuning record's under ``--params``; prints which."""
    out = {}
    for name in names:
        out[name], source = params_with_sources(record, name, (explicit or {}).get(name, {}))
        console.print(f"parameters of {name}: {json.dumps(out[name])} (from {source})")
        if "tuning record" in source and "no tuning record" not in source:
            console.print(
                "  (tuned by `tastemaker tune` on its own split; `--seeds N` re-tunes inside"
                " each split's training part)"
            )
    return out


def print_result(result: EvaluationResult, html: Path) -> None:
    """The metric table, the evaluated users, the warnings and where the report is."""
    narrow = console.width < 110  # keep the table readable in an 80-column terminal
    console.print(render_table(result, COMPACT_COLUMNS if narrow else DEFAULT_COLUMNS))
    console.print(users_line(result))
    for warning in result.warnings:
        console.print(f"[bold yellow]WARNING[/bold yellow] {warning}")
    console.print(f"report: {html}  (json: {html.with_suffix('.json')})")


def users_line(result: EvaluationResult) -> str:
    """``evaluated users: 822 of 943 (87.2%); 121 with a test part not evaluated (...)``."""
    dropped = (
        f"; {result.dropped_users:,} with a test part not evaluated (fewer training items"
        " than --min-train)"
        if result.dropped_users
        else ""
    )
    share = f"{result.evaluated_share():.1%}"
    return f"evaluated users: {result.n_users:,} of {result.users_with_data:,} ({share}){dropped}"


def print_seeds(result: SeedsResult, summary: Path) -> None:
    """Per-seed NDCG at the first K of every model, the mean with its interval, and the
    parameters each seed chose."""
    k = result.runs[0].result.ks[0]
    kind = result.runs[0].result.split.split(":")[0]
    table = Table(title=f"ndcg@{k} per seed ({kind} split)")
    table.add_column("model", style="bold")
    for run in result.runs:
        table.add_column(f"seed {run.seed}", justify="right")
    table.add_column("mean [95% t-interval]", justify="right")
    for name, row in result.summary("ndcg", k).items():
        cells = [f"{v:.4f}" for v in row["per_seed"]]
        mean = f"{row['mean']:.4f} [{row['low']:.4f}, {row['high']:.4f}]"
        table.add_row(name, *cells, mean)
    console.print(table)
    if kind != "random":
        console.print(
            f"note: a {kind} split does not depend on the seed; the seeds vary the bootstrap"
            " and the inner tuning split only (use --split random for new splits)"
        )
    for run in result.runs:
        tuned = f" (re-tuned on its training part: {', '.join(run.retuned)})" if run.retuned else ""
        params = {n: p for n, p in run.params.items() if p}
        console.print(f"seed {run.seed}: params {json.dumps(params)}{tuned}")
        console.print(f"  {users_line(run.result)}")
        for warning in run.result.warnings:
            console.print(f"  [bold yellow]WARNING[/bold yellow] {warning}")
    console.print(f"summary: {summary}  (per-seed reports beside it)")
