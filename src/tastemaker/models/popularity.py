"""Popularity: the most engaged-with items, time decayed, optionally per category or segment."""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import polars as pl
import scipy.sparse as sp

from tastemaker.errors import ValidationFailedError
from tastemaker.models.base import Recommender, State
from tastemaker.models.catalog import register
from tastemaker.models.interactions import Interactions


@register
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

    def _pair_scores(self, inter: Interactions) -> pl.DataFrame:
        """One row per engaged (user, item) pair with its decayed weight ``s``."""
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
        return pairs.select("user", "item", weight.alias("s"))

    def _popularity(self, inter: Interactions) -> np.ndarray:
        return _normalized(self._pair_scores(inter), inter.n_items)

    def fit_segments(self, interactions: Interactions, users: pl.DataFrame, column: str) -> Self:
        """Also learn one popularity ranking per user segment (``users[column]``).

        Call after ``fit`` with the same interactions; ``users`` has ``user_id`` and
        ``column``. Serving then asks :meth:`recommend_segment` for a visitor's segment.
        """
        self._check()
        labels = users.select(pl.col("user_id").cast(pl.String), pl.col(column).cast(pl.String))
        labels = labels.drop_nulls()
        idx = interactions.users.index(labels["user_id"])
        seg = labels.with_columns(pl.Series("user", idx, dtype=pl.Int32)).filter(
            pl.col("user") >= 0
        )
        names = sorted(seg[column].unique().to_list())
        code = {n: i for i, n in enumerate(names)}
        seg = seg.with_columns(
            pl.col(column).replace_strict(code, return_dtype=pl.Int32).alias("g")
        )
        scored = self._pair_scores(interactions).join(seg.select("user", "g"), on="user")
        table = np.zeros((len(names), interactions.n_items), np.float32)
        for g in range(len(names)):
            table[g] = _normalized(scored.filter(pl.col("g") == g), interactions.n_items)
        self.segment_labels_ = np.asarray(names, dtype=str)
        self.segment_popularity_ = table
        return self

    def recommend_segment(
        self,
        segment: str,
        k: int,
        *,
        exclude: sp.csr_matrix | None = None,
        candidates: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` of one segment's ranking (the global ranking for unknown segments).

        Returns arrays of shape ``[1, k]`` like :meth:`recommend`; ``exclude`` has one row.
        """
        self._check()
        labels = getattr(self, "segment_labels_", np.empty(0, dtype=str))
        hit = np.flatnonzero(labels == segment)
        row = self.segment_popularity_[hit[0]] if len(hit) else self.popularity_
        return self._batched(np.zeros(1, np.int64), k, exclude, candidates, lambda r: row[None, :])

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
        state: State = {
            "popularity": self.popularity_,
            "groups": self.groups_,
            "train": self.train_,
        }
        if hasattr(self, "segment_labels_"):
            state["segment_labels"] = self.segment_labels_
            state["segment_popularity"] = self.segment_popularity_
        return state

    def _set_state(self, state: dict[str, Any]) -> None:
        self.popularity_ = state["popularity"]
        self.groups_ = state["groups"]
        self.train_ = state["train"]
        if "segment_labels" in state:
            self.segment_labels_ = state["segment_labels"]
            self.segment_popularity_ = state["segment_popularity"]


def _normalized(scored: pl.DataFrame, n_items: int) -> np.ndarray:
    """Sum ``s`` per item and scale the best item to 1."""
    pop = np.zeros(n_items, np.float64)
    np.add.at(pop, scored["item"].to_numpy(), scored["s"].to_numpy())
    top = pop.max(initial=0.0)
    return (pop / top if top > 0 else pop).astype(np.float32)
