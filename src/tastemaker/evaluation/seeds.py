"""Repeat split + evaluation over seeds, with nested per-seed tuning.

For each seed the data is split again; every model named in the tuning record is tuned
again with :func:`tune` on that seed's *training part only* (tune carves its own inner
validation from it), so a seed's test pairs never choose its hyperparameters. The
per-seed figures, the chosen parameters and the mean over seeds with a Student-t interval
are reported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from tastemaker.evaluation.protocols import seed_interval
from tastemaker.evaluation.result import EvaluationResult
from tastemaker.evaluation.runner import Progress, evaluate_models
from tastemaker.evaluation.splits import Split, SplitSpec
from tastemaker.evaluation.tuning import tune
from tastemaker.models.interactions import Interactions


@dataclass
class SeedRun:
    """One seed: its evaluation and the parameters each model was evaluated with."""

    seed: int
    result: EvaluationResult
    params: dict[str, dict[str, Any]]
    retuned: list[str] = field(default_factory=list)


@dataclass
class SeedsResult:
    """Every seed's run, and the mean over seeds of each model's figures."""

    runs: list[SeedRun]

    def summary(self, metric: str = "ndcg", k: int | None = None) -> dict[str, dict[str, Any]]:
        """Per model: ``metric`` at ``k`` (default: the first K) per seed, mean and 95%
        Student-t interval over seeds."""
        kk = self.runs[0].result.ks[0] if k is None else k
        out: dict[str, dict[str, Any]] = {}
        for model in (m.name for m in self.runs[0].result.models):
            values = [
                next(m for m in r.result.models if m.name == model).value(metric, kk)
                for r in self.runs
            ]
            out[model] = {"per_seed": values, **seed_interval(values)}
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: seeds, per-seed params, summary and each seed's full result."""
        k = self.runs[0].result.ks[0]
        return {
            "seeds": [r.seed for r in self.runs],
            "params": {str(r.seed): r.params for r in self.runs},
            "retuned": {str(r.seed): r.retuned for r in self.runs},
            "summary": {f"ndcg@{k}": self.summary("ndcg", k)},
            "runs": [r.result.to_dict() for r in self.runs],
        }


def retune_on_training(
    split: Split,
    record: Mapping[str, Mapping[str, Any]],
    *,
    seed: int,
    items: pl.DataFrame | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Tune each model of ``record`` again on ``split.train`` only; return the best params.

    Args:
        split: the outer split of one seed (its test and validation parts are not read).
        record: the tuning record's entries by model: ``grid``, ``metric``, ``k`` and
            ``validation`` (inner split, random unless it names temporal).
        seed: seed of the inner validation split.
        items: item catalog for content-aware models.
        progress: called with a line saying which model is being tuned and how far.
    """
    chosen = {}
    for name, entry in record.items():
        inner = "temporal" if "temporal" in str(entry.get("validation", "")) else "random"
        result = tune(
            split.train, name, entry.get("grid"), metric=str(entry.get("metric", "ndcg")),
            k=int(entry.get("k", 10)), split=inner, seed=seed, items=items,
            progress=_tune_progress(progress, name, seed),
        )  # fmt: skip
        chosen[name] = dict(result.best_params)
    return chosen


def evaluate_seeds(
    inter: Interactions,
    models: Sequence[str],
    spec: SplitSpec,
    ks: Sequence[int],
    seeds: Sequence[int],
    *,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    record: Mapping[str, Mapping[str, Any]] | None = None,
    progress: Progress | None = None,
    **evaluate_kw: Any,
) -> SeedsResult:
    """Split ``inter`` with each seed, re-tune the recorded models on that seed's training
    part, evaluate every model, and collect the runs.

    Args:
        inter: the interactions.
        models: model short names.
        spec: how to split (the seed drives the random kind and the bootstrap).
        ks: cut-offs.
        seeds: the seeds, one run each.
        params: fixed parameters per model; they override what tuning chooses.
        record: tuning record entries of the models to re-tune per seed (None: no tuning).
        progress: ``progress(stage, done, total)`` over all seeds and models.
        evaluate_kw: passed to :func:`evaluate_models` (items, segments, n_bootstrap...).
    """
    wanted = {n: e for n, e in (record or {}).items() if n in models}
    runs = []
    for i, seed in enumerate(seeds):
        say = _seed_progress(progress, seed, i * len(models), len(seeds) * len(models))
        runs.append(_run_seed(inter, models, spec, ks, seed, params, wanted, say, evaluate_kw))
    return SeedsResult(runs)


def _run_seed(
    inter: Interactions,
    models: Sequence[str],
    spec: SplitSpec,
    ks: Sequence[int],
    seed: int,
    params: Mapping[str, Mapping[str, Any]] | None,
    record: Mapping[str, Mapping[str, Any]],
    say: Callable[[str, float], None] | None,
    evaluate_kw: Mapping[str, Any],
) -> SeedRun:
    """Split with ``seed``, re-tune the recorded models on the training part, evaluate."""
    split = spec.make(inter, seed)
    tuned = retune_on_training(
        split, record, seed=seed, items=evaluate_kw.get("items"),
        progress=(lambda line: say(line, 0.0)) if say else None,
    )  # fmt: skip
    chosen = {n: {**tuned.get(n, {}), **dict((params or {}).get(n, {}))} for n in models}
    result = evaluate_models(
        inter, list(models), split, ks, seed=seed, params=chosen,
        progress=(lambda stage, done, _t: say(stage, done)) if say else None, **evaluate_kw,
    )  # fmt: skip
    return SeedRun(seed, result, chosen, sorted(tuned))


def _tune_progress(
    progress: Callable[[str], None] | None, name: str, seed: int
) -> Callable[[int, int], None] | None:
    if progress is None:
        return None
    return lambda done, total: progress(
        f"tuning {name} on seed {seed}'s training part: {done}/{total} grid points"
    )


def _seed_progress(
    progress: Progress | None, seed: int, offset: int, total: int
) -> Callable[[str, float], None] | None:
    if progress is None:
        return None
    return lambda stage, done: progress(f"seed {seed}: {stage}", offset + done, total)
