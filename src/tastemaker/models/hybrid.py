"""Hybrid: a weighted blend of other models, weights fitted on a validation split."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp

from tastemaker.models.base import Recommender, State
from tastemaker.models.catalog import load_model, make_model, register
from tastemaker.models.holdout import ndcg_at_k, random_holdout
from tastemaker.models.interactions import Interactions
from tastemaker.models.rows import Row
from tastemaker.models.scores import standardize, top_k

DEFAULT_COMPONENTS = ("ease", "itemknn", "als")
_SEARCH_BUDGET = 1 << 24  # floats per component score matrix during the weight search


def simplex_grid(n: int, step: float) -> np.ndarray:
    """All weight vectors of ``n`` non-negative multiples of ``step`` summing to 1."""
    m = round(1.0 / step)
    pts = [c for c in itertools.product(range(m + 1), repeat=n) if sum(c) == m]
    return np.asarray(pts, dtype=np.float64) / m


@register
class HybridRecommender(Recommender):
    """``score = sum_c w_c x standardize(score_c)`` over component models.

    Without explicit ``weights``, ``fit`` carves a per-user random validation split out of
    the interactions it receives, fits the components on the rest, picks the weights on a
    simplex grid that maximize NDCG@``k`` on validation, then refits the components on
    everything. History-based scoring delegates to each component; so does candidate
    scoring (``score_candidates``), each component standardizing its candidates' scores
    with the moments of its full score row, computed exactly without that row where the
    component knows how (ALS, item-kNN).

    Args:
        components: short names of the blended models.
        params: hyperparameters per component name (defaults: each model's tuned defaults).
        weights: fixed weights (skip the search).
        validation_ratio: share of each user's pairs held out for the weight search.
        grid_step: resolution of the weight grid.
        k: cut-off of the NDCG optimized.
        max_validation_users: users sampled for the search (bounds time and memory).
        seed: seed of the validation split and sampling.
    """

    name = "hybrid"

    def __init__(
        self,
        components: list[str] | tuple[str, ...] = DEFAULT_COMPONENTS,
        params: dict[str, dict[str, Any]] | None = None,
        weights: list[float] | None = None,
        validation_ratio: float = 0.1,
        grid_step: float = 0.1,
        k: int = 10,
        max_validation_users: int = 2000,
        seed: int = 0,
    ) -> None:
        self.components = list(components)
        self.params = params
        self.weights = weights
        self.validation_ratio = validation_ratio
        self.grid_step = grid_step
        self.k = k
        self.max_validation_users = max_validation_users
        self.seed = seed

    def _make(self) -> list[Recommender]:
        return [make_model(c, **(self.params or {}).get(c, {})) for c in self.components]

    def _fit(self, interactions: Interactions, items: pl.DataFrame | None) -> None:
        if self.weights is not None:
            self.weights_ = np.asarray(self.weights, dtype=np.float64)
        else:
            self.weights_, self.validation_scores_ = self._search(interactions, items)
        self.models_ = [m.fit(interactions, items) for m in self._make()]
        self.train_ = interactions.seen()

    def _search(
        self, interactions: Interactions, items: pl.DataFrame | None
    ) -> tuple[np.ndarray, np.ndarray]:
        ratio = self.validation_ratio
        train, valid = random_holdout(interactions, (1.0 - ratio, ratio), seed=self.seed)
        rel = valid.binary()
        rel = sp.csr_matrix(rel - rel.multiply(train.binary()))
        users = np.flatnonzero((np.diff(rel.indptr) > 0) & (np.diff(train.matrix.indptr) > 0))
        # dense validation scores per component: bound them to ~64 MiB each
        cap = max(50, min(self.max_validation_users, _SEARCH_BUDGET // max(rel.shape[1], 1)))
        if len(users) > cap:
            rng = np.random.default_rng(self.seed)
            users = np.sort(rng.choice(users, cap, replace=False))
        seen = train.seen()[users].tocoo()
        all_items = np.arange(rel.shape[1])
        parts = [
            standardize(m.fit(train, items).score_items(users, all_items)) for m in self._make()
        ]
        grid = simplex_grid(len(parts), self.grid_step)
        rel_u = rel[users]
        values = np.empty(len(grid))
        for g, ws in enumerate(grid):
            blend = sum(w * p for w, p in zip(ws, parts, strict=True))
            blend[seen.row, seen.col] = -np.inf
            values[g] = float(ndcg_at_k(top_k(blend, self.k)[0], rel_u, self.k).mean())
        return grid[int(values.argmax())], values

    def _blend(self, per_model: list[np.ndarray]) -> np.ndarray:
        out = np.zeros_like(per_model[0], dtype=np.float32)
        for w, s in zip(self.weights_, per_model, strict=True):
            if w > 0:
                out += np.float32(w) * standardize(s)
        return out

    def _score_users(self, user_ids: np.ndarray) -> np.ndarray:
        return self._blend([m._score_users(user_ids) for m in self.models_])

    def _score_history(self, history: sp.csr_matrix) -> np.ndarray:
        return self._blend([m._score_history(history) for m in self.models_])

    def _similar_scores(self, item_ids: np.ndarray) -> np.ndarray:
        return self._blend([m._similar_scores(item_ids) for m in self.models_])

    def _score_candidates(self, row: Row, candidates: np.ndarray) -> np.ndarray:
        # each component's z-scores on the candidates, from its own (exact) row moments
        out = np.zeros(len(candidates), np.float64)
        for w, model in zip(self.weights_.tolist(), self.models_, strict=True):
            if w > 0:
                part = np.asarray(model._standardized_candidates(row, candidates), np.float64)
                part *= w  # a fresh array of the component's: no temporary per weight
                out += part
        return out

    def warm_up(self) -> None:
        """Warm up every component."""
        self._check()
        for model in self.models_:
            model.warm_up()

    def _state(self) -> State:
        return {"weights": self.weights_.astype(np.float64), "train": self.train_}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.weights_ = state["weights"]
        self.train_ = state["train"]

    def _save_extra(self, folder: Path) -> None:
        for i, model in enumerate(self.models_):
            model.save(folder / f"component_{i}_{model.name}")

    def _load_extra(self, folder: Path) -> None:
        self.models_ = [
            load_model(folder / f"component_{i}_{name}") for i, name in enumerate(self.components)
        ]
