"""Popularity: the most engaged-with items, time decayed, optionally per category."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp

from tastemaker.errors import ValidationFailedError
from tastemaker.models.base import Recommender, State
from tastemaker.models.interactions import Interactions


class PopularityRecommender(Recommender):
    """Ranks items by how many users engaged with them, recent engagement counting more.

    It is the cold-start fallback: ``recommend_from_history`` ignores the history unless
    ``by="category"``, where a user's share of engagement per category lifts that category's
    popular items (``score = pop x (1 + personal_weight x share)``).

    Args:
        half_life_days: engagement ``t`` days before the newest event counts ``0.5**(t/h)``;
            None means no decay.
        by: None, or an item column (e.g. ``"category"``) to personalize by group.
        personal_weight: strength of the per-group lift.
        use_weights: weight each user-item pair by its confidence instead of counting it once.
    """

    name = "popularity"

    def __init__(
        self,
        half_life_days: float | None = None,
        by: str | None = None,
        personal_weight: float = 1.0,
        use_weights: bool = False,
    ) -> None:
        self.half_life_days = half_life_days
        self.by = by
        self.personal_weight = personal_weight
        self.use_weights = use_weights

    def _fit(self, interactions: Interactions, items: pl.DataFrame | None) -> None:
        self.popularity_ = self._popularity(interactions)
        self.groups_ = np.full(interactions.n_items, -1, np.int32)
        self.train_ = interactions.matrix
        if self.by is not None:
            if items is None or self.by not in items.columns:
                raise ValidationFailedError(
                    f"popularity by '{self.by}' needs an items frame with a '{self.by}' column",
                    field="by",
                )
            labels = items.select(
                pl.col("item_id").cast(pl.String), pl.col(self.by).cast(pl.String)
            )
            codes = labels[self.by].cast(pl.Categorical).to_physical().cast(pl.Int32)
            idx = interactions.items.index(labels["item_id"])
            ok = (idx >= 0) & codes.is_not_null().to_numpy()
            self.groups_[idx[ok]] = codes.to_numpy()[ok]

    def _popularity(self, inter: Interactions) -> np.ndarray:
        log = inter.log
        pairs = log.group_by("user", "item").agg(
            pl.col("timestamp").max(), pl.col("weight").sum().alias("w")
        )
        pairs = pairs.filter(pl.col("w") > 0)
        weight = pl.col("w") if self.use_weights else pl.lit(1.0)
        if self.half_life_days and pairs["timestamp"].null_count() < pairs.height:
            newest = pairs["timestamp"].max()
            age_days = (pl.lit(newest) - pl.col("timestamp")).dt.total_milliseconds() / 86_400_000
            weight = weight * (0.5 ** (age_days / self.half_life_days)).fill_null(0.0)
        scored = pairs.select("item", weight.alias("s"))
        pop = np.zeros(inter.n_items, np.float64)
        np.add.at(pop, scored["item"].to_numpy(), scored["s"].to_numpy())
        top = pop.max(initial=0.0)
        return (pop / top if top > 0 else pop).astype(np.float32)

    def _score_history(self, history: sp.csr_matrix) -> np.ndarray:
        base = np.broadcast_to(self.popularity_, (history.shape[0], self.n_items)).copy()
        if self.by is None or history.nnz == 0:
            return base
        n_groups = int(self.groups_.max(initial=-1)) + 1
        if n_groups == 0:
            return base
        known = self.groups_ >= 0
        onehot = sp.csr_matrix(
            (np.ones(int(known.sum()), np.float32), (np.flatnonzero(known), self.groups_[known])),
            shape=(self.n_items, n_groups),
        )
        per_group = np.asarray((history @ onehot).todense(), dtype=np.float32)
        total = per_group.sum(axis=1, keepdims=True)
        share = per_group / np.where(total > 0, total, 1.0)
        lift = np.zeros_like(base)
        lift[:, known] = share[:, self.groups_[known]]
        return base * (1.0 + self.personal_weight * lift)

    def _similar_scores(self, item_ids: np.ndarray) -> np.ndarray:
        base = np.broadcast_to(self.popularity_, (len(item_ids), self.n_items)).copy()
        if self.by is not None:
            same = self.groups_[None, :] == self.groups_[item_ids][:, None]
            base = base * (1.0 + same.astype(np.float32))
        return base

    def _state(self) -> State:
        return {"popularity": self.popularity_, "groups": self.groups_, "train": self.train_}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.popularity_ = state["popularity"]
        self.groups_ = state["groups"]
        self.train_ = state["train"]
