"""What an offline evaluation produced: per-model estimates and the run's summary.

Also the rule that says when too few users were evaluated for the figures to be trusted
(:func:`precision_warnings`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tastemaker.evaluation.metrics import Estimate
from tastemaker.evaluation.paired import Comparison

MIN_USERS = 200
"""Fewer evaluated users than this always draw a warning."""
MAX_HALF_WIDTH = 0.02
"""A 95% interval of the main metric (NDCG at the first K) wider than ± this draws one too."""
_NONE = Comparison(0.0, 0.0, 0.0, 1.0, "")


@dataclass
class ModelEvaluation:
    """Results of one model: ``metrics[metric][k]`` estimates, timings, per-segment view."""

    name: str
    params: dict[str, Any]
    fit_seconds: float
    recommend_seconds: float
    metrics: dict[str, dict[int, Estimate]]
    segments: dict[str, dict[str, dict[int, Estimate]]] = field(default_factory=dict)
    mean_rec_popularity: float = 0.0

    def value(self, metric: str, k: int) -> float:
        """Mean of ``metric`` at ``k``."""
        return self.metrics[metric][k].mean

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "params": self.params,
            "fit_seconds": self.fit_seconds,
            "recommend_seconds": self.recommend_seconds,
            "mean_rec_popularity": self.mean_rec_popularity,
            "metrics": {
                m: {str(k): e.to_dict() for k, e in per_k.items()}
                for m, per_k in self.metrics.items()
            },
            "segments": {
                s: {m: {str(k): e.to_dict() for k, e in pk.items()} for m, pk in ms.items()}
                for s, ms in self.segments.items()
            },
        }


@dataclass
class EvaluationResult:
    """Everything an evaluation produced, for tables, reports and JSON."""

    split: str
    ks: list[int]
    n_users: int
    n_items: int
    models: list[ModelEvaluation]
    segment_column: str | None = None
    wall_seconds: float = 0.0
    comparisons: dict[str, dict[int, dict[str, Comparison]]] = field(default_factory=dict)
    loses_to_popularity: dict[int, list[str]] = field(default_factory=dict)
    dropped_users: int = 0
    warnings: list[str] = field(default_factory=list)
    users_with_data: int = 0

    def evaluated_share(self) -> float:
        """Evaluated users over users with any interaction in the split (0 when none)."""
        return self.n_users / self.users_with_data if self.users_with_data else 0.0

    def best(self, metric: str = "ndcg", k: int | None = None) -> ModelEvaluation | None:
        """The model significantly best at ``metric`` and ``k`` (default: the first K), or
        None when the leader is tied with another model (see :mod:`.paired`)."""
        kk = self.ks[0] if k is None else k
        status = self.comparisons.get(metric, {}).get(kk, {})
        return next((m for m in self.models if status.get(m.name, _NONE).status == "best"), None)

    def status(self, metric: str, k: int, model: str) -> str:
        """``best``, ``tied`` (with the best), ``below`` or ``""`` when not compared."""
        return self.comparisons.get(metric, {}).get(k, {}).get(model, _NONE).status

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "split": self.split,
            "ks": self.ks,
            "n_users": self.n_users,
            "n_items": self.n_items,
            "segment_column": self.segment_column,
            "wall_seconds": self.wall_seconds,
            "models": [m.to_dict() for m in self.models],
            "comparisons": {
                m: {str(k): {n: c.to_dict() for n, c in per.items()} for k, per in pk.items()}
                for m, pk in self.comparisons.items()
            },
            "loses_to_popularity": {str(k): v for k, v in self.loses_to_popularity.items()},
            "dropped_users": self.dropped_users,
            "users_with_data": self.users_with_data,
            "evaluated_share": self.evaluated_share(),
            "warnings": self.warnings,
        }


def precision_warnings(result: EvaluationResult, metric: str = "ndcg") -> list[str]:
    """Warnings when the evaluated users are too few for the figures to separate models.

    The rule: warn when fewer than :data:`MIN_USERS` users were evaluated, or when the 95%
    bootstrap interval of ``metric`` at the first K is wider than ±:data:`MAX_HALF_WIDTH`
    for some model (differences smaller than the half-width cannot be told apart).
    """
    out = []
    if result.n_users < MIN_USERS:
        out.append(
            f"only {result.n_users} users evaluated (fewer than {MIN_USERS}): intervals are"
            " wide; use a per-user split (--split temporal-user) or more data"
        )
    k = result.ks[0] if result.ks else None
    widths = {
        m.name: (m.metrics[metric][k].high - m.metrics[metric][k].low) / 2
        for m in result.models
        if k is not None and metric in m.metrics and k in m.metrics[metric]
    }
    wide = {name: w for name, w in widths.items() if w > MAX_HALF_WIDTH}
    if wide:
        name, w = max(wide.items(), key=lambda kv: kv[1])
        out.append(
            f"{metric}@{k} intervals are up to ±{w:.4f} wide ({name}; {result.n_users} users):"
            f" differences smaller than that are noise"
        )
    return out
