"""`tastemaker train`: train a model on the workspace's events and write a registry version."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tastemaker.cli.common import WorkspaceOpt, choice_enum, console, fail, opened
from tastemaker.errors import TastemakerError
from tastemaker.models import MODELS

# The choices of --model are the model catalog's names, so a new model is offered as soon
# as it registers (this module is imported only when `train` runs or shows its help).
if TYPE_CHECKING:
    ModelName = StrEnum
else:
    ModelName = choice_enum("ModelName", MODELS)


def _params(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(f"--params is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise fail("--params must be a JSON object, e.g. '{\"factors\": 64}'")
    return value


def train(
    workspace: WorkspaceOpt = Path("."),
    model: Annotated[ModelName, typer.Option(help="Model to train (the model catalog).")] = (
        ModelName("hybrid")
    ),
    params: Annotated[
        str | None, typer.Option(help="Hyperparameters as JSON, e.g. '{\"factors\": 64}'.")
    ] = None,
    holdout: Annotated[
        float, typer.Option(help="Share of newest events held out for offline metrics (0: skip).")
    ] = 0.2,
    promote: Annotated[bool, typer.Option(help="Promote the new version at once.")] = False,
    ignore_tuning: Annotated[
        bool, typer.Option(help="Ignore the workspace's tuning record (`tastemaker tune`).")
    ] = False,
) -> None:
    """Train on every event, evaluate on a temporal holdout, write a new model version.

    Hyperparameters come from the workspace's tuning record when it has one for the model
    (``--params`` overrides single values); the command prints where they came from.
    """
    from tastemaker.evaluation.tuning import TUNING_RECORD, params_with_sources
    from tastemaker.training.recommender import registry_of, train_version

    with opened(workspace) as ws:
        record = (
            None if ignore_tuning else ws.settings.path(ws.settings.reports_dir) / TUNING_RECORD
        )
        chosen, source = params_with_sources(record, model.value, _params(params))
        console.print(f"parameters of {model.value}: {json.dumps(chosen)} (from {source})")
        try:
            manifest = train_version(ws, model.value, chosen, holdout=holdout)
            if promote:
                registry_of(ws).promote(manifest.version)
        except TastemakerError as exc:
            raise fail(exc.message) from exc
    console.print(f"wrote model version [bold]{manifest.version}[/bold] ({manifest.model})")
    for name in ("ndcg@10", "recall@10", "hit_rate@10", "coverage@10"):
        if name in manifest.metrics:
            console.print(f"  {name}: {manifest.metrics[name]:.4f}")
    console.print(f"  ANN: {manifest.retrieval}")
    if promote:
        console.print(f"promoted {manifest.version}")
    else:
        console.print(f"promote it with `tastemaker models promote {manifest.version}`")
