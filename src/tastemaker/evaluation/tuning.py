"""Hyperparameter search on a validation split carved from the training part only.

The test part of an outer split is never seen: ``tune`` receives training interactions,
splits them again (per-user random 75/25 by default, or temporal), fits every grid
point on the inner train and scores it on the inner validation. When the best value of
a numeric parameter is the lowest or highest of its grid, the grid is extended
geometrically past that end (a few steps); a best value still at an end afterwards is
reported in ``edge_warnings``. Results are JSON.
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
from tastemaker.evaluation.splits import Split, make_split, random_split, temporal_split
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
        "factors": [128],
        "learning_rate": [0.01, 0.02],
        "regularization": [0.01, 0.03, 0.1],
        "iterations": [100, 200],
        "popularity_correction": [0.5, 1.0],
    },
}
EXTEND_STEPS = 3
"""Rounds of grid extension past an end before ``tune`` gives up and warns."""

Trial = Callable[[Mapping[str, Any]], float]
"""Scores one parameter point (higher is better); ``tune`` builds one per search."""


@dataclass
class TuneResult:
    """A finished search: every trial, the best point, and how it was validated.

    ``grid`` holds every value searched per parameter (the grid asked for plus its
    extensions), ``extensions`` says what was added past an end and why, and
    ``edge_warnings`` names the parameters whose best value is still an end.
    """

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
    grid: dict[str, list[Any]] = field(default_factory=dict)
    extensions: list[str] = field(default_factory=list)
    edge_warnings: list[str] = field(default_factory=list)

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
on), ``tuned_at``, ``searched`` and ``extensions`` (values tried past the grid's ends) and
``edge_warnings``. ``tune`` writes it; ``train`` and ``evaluate`` use it.
"""


def data_fingerprint(inter: Interactions) -> dict[str, int]:
    """Shape of the interactions a record was tuned on (to tell when the data moved on)."""
    return {"users": inter.n_users, "items": inter.n_items, "interactions": int(inter.nnz)}


def _numbers(values: Sequence[Any]) -> list[float]:
    """The numeric (non-bool) values of a grid axis."""
    return [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]


def edge_side(values: Sequence[Any], best: Any) -> str | None:
    """``"lowest"`` or ``"highest"`` when ``best`` is that end of a numeric grid axis.

    None inside the axis, for non-numeric values, for axes of fewer than two numbers,
    and for a lowest value of 0 or below: a floor (shrinkage 0), not an edge.
    """
    numbers = _numbers(values)
    if len(numbers) < 2 or best not in numbers or isinstance(best, bool):
        return None
    if best == max(numbers):
        return "highest"
    if best == min(numbers) and best > 0:
        return "lowest"
    return None


def beyond_edge(values: Sequence[Any], best: Any) -> Any | None:
    """The next value past the end of a numeric grid axis that ``best`` sits at.

    Steps geometrically by the ratio of the two outermost values at that end (x2 when
    it is undefined), keeping the axis' type (ints stay ints). None when ``best`` is
    not an end (:func:`edge_side`) or no step exists (integers below 1).
    """
    side = edge_side(values, best)
    numbers = sorted(set(_numbers(values)))
    is_int = all(isinstance(v, int) for v in numbers)
    if side == "highest" and numbers[-1] > 0:
        ratio = numbers[-1] / numbers[-2] if numbers[-2] > 0 else 2.0
        nxt = numbers[-1] * ratio
        return max(round(nxt), numbers[-1] + 1) if is_int else float(f"{nxt:.4g}")
    if side == "lowest":
        nxt = numbers[0] / (numbers[1] / numbers[0])
        if is_int:
            step = min(round(nxt), numbers[0] - 1)
            return step if step >= 1 else None
        return float(f"{nxt:.4g}")
    return None


def edge_warnings(
    result: TuneResult, grid: Mapping[str, Sequence[Any]], *, extended: int = 0
) -> list[str]:
    """One message per numeric parameter whose best value is the lowest or highest tried.

    A lowest value of 0 (or below) is a floor, not an edge, and is not reported.
    ``extended``: rounds of extension already run (said in the message).
    """
    out = []
    for name, values in grid.items():
        best = result.best_params.get(name)
        side = edge_side(values, best)
        if side is None:
            continue
        after = f" even after {extended} round(s) of extension" if extended else ""
        out.append(
            f"{result.model}: best {name}={best} is the {side} value of the grid "
            f"{sorted(_numbers(values))}{after}; the optimum may lie beyond it, extend the grid"
        )
    return out


def write_record(
    path: Path,
    result: TuneResult,
    grid: Mapping[str, Sequence[Any]],
    data: Mapping[str, Any],
) -> Path:
    """Enter ``result`` as the record of its model in the tuning record at ``path``.

    ``grid`` is the grid asked for; ``searched`` adds the values tried past its ends.
    """
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
        "searched": result.grid or {k: list(v) for k, v in grid.items()},
        "extensions": result.extensions,
        "edge_warnings": result.edge_warnings if result.grid else edge_warnings(result, grid),
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
    """Carve inner train / validation from a training set (never touching a test set).

    ``kind``: ``temporal`` (global cutoff at 80% of the time), ``temporal-user`` (each
    user's last 20%), otherwise a random 75/25 split of the pairs.
    """
    if kind == "temporal":
        return temporal_split(train, test_fraction=0.2)
    if kind == "temporal-user":
        return make_split(train, kind, seed=seed, test_fraction=0.2)
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
    extend: int = EXTEND_STEPS,
    trial: Trial | None = None,
) -> TuneResult:
    """Grid-search ``model`` on a validation split of ``train``; return every trial.

    A best value at an end of its axis is stepped past (:func:`beyond_edge`, the other
    parameters at their best) up to ``extend`` rounds; see :class:`TuneResult`.

    Args:
        train: the training part of an outer split (or all data when no test exists).
        model: short model name.
        grid: ``{param: [values]}``; defaults to :data:`DEFAULT_GRIDS`.
        metric: metric to maximize (``ndcg``, ``precision``, ``recall``, ``map``, ...).
        k: cut-off of the metric.
        split, seed: ``random`` (per-user 75/25, seeded) or ``temporal`` inner validation.
        items: item catalog for content-aware models.
        fixed, progress: parameters of every trial; called as ``progress(done, total)``.
        extend: rounds of grid extension past an end (0 = the grid as given).
        trial: scores one point instead of fitting ``model`` on the inner split (tests).
    """
    started = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    searched = {
        p: list(v) for p, v in (grid if grid is not None else DEFAULT_GRIDS.get(model, {})).items()
    }
    validation = "given trial scorer"
    if trial is None:
        validation, trial = _fit_and_score(model, train, split, seed, items, metric, k)
    points = [{**(fixed or {}), **p} for p in grid_points(searched)]
    trials: list[dict[str, Any]] = []
    _run_trials(trial, points, trials, progress, len(points))
    notes, rounds = _extend(trial, searched, trials, extend, progress)
    best_trial = max(trials, key=lambda t: t["value"])
    result = TuneResult(
        model=model,
        metric=metric,
        k=k,
        validation=validation,
        best_params=best_trial["params"],
        best_value=best_trial["value"],
        trials=trials,
        started_at=started,
        seconds=time.perf_counter() - t0,
        grid=searched,
        extensions=notes,
    )
    result.edge_warnings = edge_warnings(result, searched, extended=rounds)
    return result


def _extend(
    trial: Trial,
    searched: dict[str, list[Any]],
    trials: list[dict[str, Any]],
    rounds: int,
    progress: Callable[[int, int], None] | None,
) -> tuple[list[str], int]:
    """Step past the grid ends the best point sits at, up to ``rounds`` times.

    Each round tries, for every such parameter, the best point with that parameter moved
    one step beyond its end (:func:`beyond_edge`). Returns what was tried (one line per
    step) and how many rounds ran; ``searched`` and ``trials`` grow in place.
    """
    notes: list[str] = []
    done = 0
    while done < rounds:
        best = max(trials, key=lambda t: t["value"])["params"]
        moves = {p: beyond_edge(v, best.get(p)) for p, v in searched.items()}
        moves = {p: v for p, v in moves.items() if v is not None}
        if not moves:
            break
        done += 1
        for name, value in moves.items():
            notes.append(f"{name}: best {best[name]} was an end of {searched[name]}; tried {value}")
            searched[name].append(value)
        new = [{**best, name: value} for name, value in moves.items()]
        _run_trials(trial, new, trials, progress, len(trials) + len(new))
    return notes, done


def _fit_and_score(
    model: str,
    train: Interactions,
    split: str,
    seed: int,
    items: pl.DataFrame | None,
    metric: str,
    k: int,
) -> tuple[str, Trial]:
    """The inner split's description, and a trial fitting ``model`` on its train part and
    scoring its validation part."""
    inner = validation_split(train, split, seed)

    def trial(params: Mapping[str, Any]) -> float:
        fitted = make_model(model, **params).fit(inner.train, items)
        metrics, _, _, _ = score_model(fitted, inner, [k], n_bootstrap=1)
        return float(metrics[metric][k].mean)

    return f"inner {inner.describe()} (carved from training only)", trial


def _run_trials(
    trial: Trial,
    points: Sequence[dict[str, Any]],
    trials: list[dict[str, Any]],
    progress: Callable[[int, int], None] | None,
    total: int,
) -> None:
    """Score each point, appending ``{"params", "value"}`` to ``trials``."""
    for point in points:
        trials.append({"params": point, "value": trial(point)})
        if progress:
            progress(len(trials), total)
