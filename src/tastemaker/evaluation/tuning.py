"""Hyperparameter search on a validation split carved from the training part only.

The test part of an outer split is never seen: ``tune`` receives training interactions,
splits them again (per-user random 75/25 by default, or temporal), fits every grid
point on the inner train and scores it on the inner validation. Results are JSON.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from tastemaker.evaluation.runner import score_model
from tastemaker.evaluation.splits import Split, random_split, temporal_split
from tastemaker.models.catalog import make_model
from tastemaker.models.interactions import Interactions

DEFAULT_GRIDS: dict[str, dict[str, list[Any]]] = {
    "popularity": {"half_life_days": [None, 7.0, 30.0, 180.0]},
    "itemknn": {"neighbors": [20, 50, 100, 200, 400], "shrinkage": [0.0, 10.0, 50.0, 200.0]},
    "ease": {"l2": [50.0, 100.0, 200.0, 300.0, 400.0, 500.0, 700.0, 1000.0]},
    "als": {
        "factors": [32, 64, 128],
        "regularization": [1.0, 10.0, 30.0, 100.0],
        "alpha": [1.0, 5.0],
        "binary": [True],
        "iterations": [15],
    },
    "bpr": {
        "factors": [64, 128],
        "learning_rate": [0.005, 0.01, 0.02],
        "regularization": [0.01, 0.03, 0.1],
        "iterations": [50, 100, 200],
    },
}


@dataclass
class TuneResult:
    """A finished search: every trial, the best point, and how it was validated."""

    model: str
    metric: str
    k: int
    validation: str
    best_params: dict[str, Any]
    best_value: float
    trials: list[dict[str, Any]] = field(default_factory=list)
    started_at: str = ""
    seconds: float = 0.0
    context: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    def save(self, path: Path) -> Path:
        """Write the result as JSON to ``path`` (parents created) and return it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, default=str))
        return path


TUNING_RUNS = Path(__file__).parent / "tuning_runs"


def tuned_params(dataset: str, model: str, folder: Path = TUNING_RUNS) -> dict[str, Any]:
    """Best parameters of the recorded run ``<folder>/<dataset>-<model>.json`` ({} if none)."""
    path = folder / f"{dataset}-{model}.json"
    if not path.is_file():
        return {}
    return dict(json.loads(path.read_text())["best_params"])


TUNING_RECORD = "tuning.json"
"""The workspace's tuning record, in its reports folder: ``{"models": {name: entry}}``.

Each entry holds ``params`` (the chosen point), ``grid``, ``metric``, ``k``, ``value``,
``validation`` (inner split), ``outer_split`` and ``data`` (a fingerprint of the data tuned
on), ``tuned_at`` and ``edge_warnings``. ``tune`` writes it; ``train`` and ``evaluate`` use it.
"""


def data_fingerprint(inter: Interactions) -> dict[str, int]:
    """Shape of the interactions a record was tuned on (to tell when the data moved on)."""
    return {"users": inter.n_users, "items": inter.n_items, "interactions": int(inter.nnz)}


def edge_warnings(result: TuneResult, grid: Mapping[str, Sequence[Any]]) -> list[str]:
    """One message per numeric parameter whose best value is the lowest or highest tried."""
    out = []
    for name, values in grid.items():
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        best = result.best_params.get(name)
        if len(numbers) < 2 or best not in numbers:
            continue
        if best in (min(numbers), max(numbers)):
            side = "lowest" if best == min(numbers) else "highest"
            out.append(
                f"{result.model}: best {name}={best} is the {side} value of the grid "
                f"{sorted(numbers)}; the optimum may lie beyond it, extend the grid"
            )
    return out


def write_record(
    path: Path,
    result: TuneResult,
    grid: Mapping[str, Sequence[Any]],
    data: Mapping[str, Any],
) -> Path:
    """Enter ``result`` as the record of its model in the tuning record at ``path``."""
    record: dict[str, Any] = {"models": {}}
    if path.is_file():
        record = json.loads(path.read_text())
    record.setdefault("models", {})[result.model] = {
        "params": result.best_params,
        "grid": {k: list(v) for k, v in grid.items()},
        "metric": result.metric,
        "k": result.k,
        "value": result.best_value,
        "validation": result.validation,
        "outer_split": result.context.get("outer_split"),
        "data": dict(data),
        "tuned_at": result.started_at,
        "edge_warnings": edge_warnings(result, grid),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, default=str))
    return path


def recorded_params(path: Path, model: str) -> dict[str, Any] | None:
    """The chosen parameters of ``model`` in the tuning record at ``path`` (None if none)."""
    if not path.is_file():
        return None
    entry = json.loads(path.read_text()).get("models", {}).get(model)
    return None if entry is None else dict(entry["params"])


def params_with_sources(
    record: Path | None, model: str, explicit: Mapping[str, Any]
) -> tuple[dict[str, Any], str]:
    """Parameters for ``model``: the tuning record's, overridden by ``explicit``; and where
    they came from, for the user to read (``record`` None: the record is ignored)."""
    tuned = recorded_params(record, model) if record is not None else None
    params = {**(tuned or {}), **explicit}
    if tuned is None:
        source = "model defaults" if not explicit else "--params over model defaults"
        if record is not None:
            source += f" (no tuning record for {model} in {record})"
        return params, source
    source = f"tuning record {record}"
    return params, (source if not explicit else f"--params over {source}")


def grid_points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Cartesian product of a grid ``{param: [values]}``."""
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]


def validation_split(train: Interactions, kind: str = "random", seed: int = 0) -> Split:
    """Carve inner train / validation from a training set (never touching a test set)."""
    if kind == "temporal":
        return temporal_split(train, test_fraction=0.2)
    return random_split(train, (0.75, 0.25), seed=seed)


def tune(
    train: Interactions,
    model: str,
    grid: Mapping[str, Sequence[Any]] | None = None,
    *,
    metric: str = "ndcg",
    k: int = 10,
    split: str = "random",
    seed: int = 0,
    items: pl.DataFrame | None = None,
    fixed: Mapping[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TuneResult:
    """Grid-search ``model`` on a validation split of ``train``; return every trial.

    Args:
        train: the training part of an outer split (or all data when no test exists).
        model: short model name.
        grid: ``{param: [values]}``; defaults to :data:`DEFAULT_GRIDS`.
        metric: metric to maximize (``ndcg``, ``precision``, ``recall``, ``map``, ...).
        k: cut-off of the metric.
        split: ``random`` (per-user 75/25) or ``temporal`` inner validation.
        seed: seed of the inner split.
        items: item catalog for content-aware models.
        fixed: parameters applied to every trial.
        progress: called as ``progress(done, total)``.
    """
    started = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    inner = validation_split(train, split, seed)
    points = grid_points(grid if grid is not None else DEFAULT_GRIDS.get(model, {}))
    trials: list[dict[str, Any]] = []
    for n, point in enumerate(points):
        params = {**(fixed or {}), **point}
        fitted = make_model(model, **params).fit(inner.train, items)
        metrics, _, _, _ = score_model(fitted, inner, [k], n_bootstrap=1)
        trials.append({"params": params, "value": metrics[metric][k].mean})
        if progress:
            progress(n + 1, len(points))
    best = max(trials, key=lambda t: t["value"])
    return TuneResult(
        model=model,
        metric=metric,
        k=k,
        validation=f"inner {inner.describe()} (carved from training only)",
        best_params=best["params"],
        best_value=best["value"],
        trials=trials,
        started_at=started,
        seconds=time.perf_counter() - t0,
    )
