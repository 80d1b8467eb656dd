"""Evaluate models on a workspace's stored events and write the report (CLI and demo)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from tastemaker.evaluation.report import write_report
from tastemaker.evaluation.result import EvaluationResult
from tastemaker.evaluation.runner import Progress, evaluate_models
from tastemaker.evaluation.splits import Split, SplitSpec
from tastemaker.models.interactions import Interactions

if TYPE_CHECKING:
    from tastemaker.workspace import Workspace


def evaluate_workspace(
    ws: Workspace,
    models: Sequence[str],
    split: str | SplitSpec | Split = SplitSpec(),
    ks: Sequence[int] = (10,),
    *,
    segment_column: str | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    report: Path | None = None,
    seed: int = 0,
    n_bootstrap: int = 1000,
    progress: Progress | None = None,
) -> tuple[EvaluationResult, Path]:
    """Read events, catalog and users from ``ws``, evaluate ``models``, write HTML + JSON.

    Events are weighted with ``ws.settings.event_weights``; ``split`` defaults to each
    user's last 20% of events by time; the report goes to ``report`` or
    ``<reports_dir>/evaluation-<UTC timestamp>.html`` (the JSON next to it).

    Returns:
        The result and the path of the HTML report.
    """
    inter, items = workspace_interactions(ws)
    users = ws.store.users() if segment_column else None
    result = evaluate_models(
        inter, list(models), split, ks, seed=seed, items=items, params=params,
        user_segments=users, segment_column=segment_column, n_bootstrap=n_bootstrap,
        progress=progress,
    )  # fmt: skip
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    html = report or ws.settings.path(ws.settings.reports_dir) / f"evaluation-{stamp}.html"
    return result, save_result(result, html)


def workspace_interactions(ws: Workspace) -> tuple[Interactions, pl.DataFrame]:
    """The workspace's events as weighted interactions (catalog items included), and the
    catalog."""
    items = ws.store.items()
    inter = Interactions.from_events(
        ws.store.events(),
        ws.settings.event_weights,
        item_ids=items["item_id"] if items.height else None,
    )
    return inter, items


def save_result(result: EvaluationResult, html: Path) -> Path:
    """Write the HTML report to ``html`` and the JSON result beside it; return ``html``."""
    write_report(result, html)
    html.with_suffix(".json").write_text(json.dumps(result.to_dict(), indent=2, default=str))
    return html
