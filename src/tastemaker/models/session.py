"""Session-based next item: item-to-item transitions within sessions, recency weighted."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp

from tastemaker.models._sparse import dense, prune_rows
from tastemaker.models.base import Recommender, State
from tastemaker.models.catalog import register
from tastemaker.models.interactions import Interactions


def sessionize(log: pl.DataFrame, gap_minutes: float) -> pl.DataFrame:
    """Add ``sid`` (int) and ``pos`` (order within the session) to a time-sorted log.

    Explicit sessions are kept; events without one are cut by ``gap_minutes`` of inactivity.
    """
    log = log.sort("user", "timestamp", maintain_order=True)
    gap = (pl.col("timestamp") - pl.col("timestamp").shift(1)).dt.total_minutes() > gap_minutes
    new_user = pl.col("user") != pl.col("user").shift(1)
    new_sess = pl.col("session").fill_null("") != pl.col("session").fill_null("").shift(1)
    start = (new_user | new_sess | gap.fill_null(False)).fill_null(True)
    log = log.with_columns(start.cum_sum().alias("sid"))
    return log.with_columns(pl.int_range(pl.len()).over("sid").alias("pos"))


@register
class SessionRecommender(Recommender):
    """Next items after the items of the current session.

    ``T[i, j]`` sums ``decay(age) / d`` over sessions where ``j`` follows ``i`` within
    ``window`` steps ``d``; rows are normalized to transition probabilities. A user's
    profile is their last session, later items weighing more (``position_decay`` per step
    back). ``recommend_from_history`` treats the history values as recency weights.

    Args:
        window: how many following items count as a transition.
        half_life_days: older sessions count ``0.5**(age/h)``; None means no decay.
        gap_minutes: inactivity that starts a new session when events carry none.
        position_decay: weight multiplier per step back in the current session.
        neighbors: transitions kept per item.
    """

    name = "session"

    def __init__(
        self,
        window: int = 3,
        half_life_days: float | None = 30.0,
        gap_minutes: float = 30.0,
        position_decay: float = 0.6,
        neighbors: int = 200,
    ) -> None:
        self.window = window
        self.half_life_days = half_life_days
        self.gap_minutes = gap_minutes
        self.position_decay = position_decay
        self.neighbors = neighbors

    def _fit(self, interactions: Interactions, items: pl.DataFrame | None) -> None:
        n = interactions.n_items
        log = sessionize(interactions.log.filter(pl.col("weight") > 0), self.gap_minutes)
        decay = pl.lit(1.0)
        if self.half_life_days and log["timestamp"].null_count() < log.height:
            age = (pl.lit(log["timestamp"].max()) - pl.col("timestamp")).dt.total_milliseconds()
            decay = (0.5 ** (age / 86_400_000 / self.half_life_days)).fill_null(1.0)
        log = log.with_columns(decay.alias("decay"))
        rows, cols, vals = [], [], []
        for d in range(1, self.window + 1):
            nxt = log.with_columns(pl.col("item").shift(-d).over("sid").alias("next"))
            nxt = nxt.filter(pl.col("next").is_not_null() & (pl.col("next") != pl.col("item")))
            rows.append(nxt["item"].to_numpy())
            cols.append(nxt["next"].to_numpy())
            vals.append((nxt["decay"] / d).to_numpy())
        r, c, v = (np.concatenate(x) if x else np.empty(0) for x in (rows, cols, vals))
        trans = sp.csr_matrix((v.astype(np.float32), (r, c)), shape=(n, n))
        trans.sum_duplicates()
        totals = np.asarray(trans.sum(axis=1)).ravel()
        trans = sp.csr_matrix(sp.diags(1.0 / np.where(totals > 0, totals, 1.0)) @ trans)
        self.transitions_ = prune_rows(trans, self.neighbors).astype(np.float32)
        self.item_counts_ = interactions.item_popularity().astype(np.float32)
        self.last_session_ = self._last_sessions(log, interactions.n_users, n)

    def _last_sessions(self, log: pl.DataFrame, n_users: int, n_items: int) -> sp.csr_matrix:
        last = log.filter(pl.col("sid") == pl.col("sid").max().over("user"))
        back = pl.col("pos").max().over("sid") - pl.col("pos")
        last = last.with_columns((self.position_decay**back).alias("w"))
        m = sp.csr_matrix(
            (
                last["w"].to_numpy().astype(np.float32),
                (last["user"].to_numpy(), last["item"].to_numpy()),
            ),
            shape=(n_users, n_items),
        )
        m.sum_duplicates()
        return m

    def _score_users(self, user_ids: np.ndarray) -> np.ndarray:
        return self._score_history(self.last_session_[user_ids])

    def _score_history(self, history: sp.csr_matrix) -> np.ndarray:
        scores = dense(history @ self.transitions_)
        return scores + 1e-6 * self.item_counts_ / max(float(self.item_counts_.max()), 1.0)

    def _similar_scores(self, item_ids: np.ndarray) -> np.ndarray:
        scores = dense(self.transitions_[item_ids])
        scores[scores == 0] = -np.inf  # only observed next items are returned
        return scores

    def _state(self) -> State:
        return {
            "transitions": self.transitions_,
            "item_counts": self.item_counts_,
            "last_session": self.last_session_,
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        self.transitions_ = state["transitions"]
        self.item_counts_ = state["item_counts"]
        self.last_session_ = state["last_session"]
