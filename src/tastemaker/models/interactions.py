"""Interactions: the users x items confidence matrix every model trains on.

Built from an event frame (the store's event schema) with per-type weights from
``Settings.event_weights`` and a dwell-time bonus for views and clicks. The per-event
log (dense indices, weight, timestamp, session) is kept for splits, time decay,
baskets and sessions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import scipy.sparse as sp

from tastemaker.config import DEFAULT_EVENT_WEIGHTS
from tastemaker.models.vocab import Vocabulary

#: Columns of :attr:`Interactions.log`.
LOG_SCHEMA: dict[str, pl.DataType] = {
    "user": pl.Int32(),
    "item": pl.Int32(),
    "weight": pl.Float32(),
    "timestamp": pl.Datetime("ms", "UTC"),
    "session": pl.String(),
}
DWELL_TYPES = ("view", "click")


def _empty_log() -> pl.DataFrame:
    return pl.DataFrame(schema=LOG_SCHEMA)


@dataclass(eq=False)
class Interactions:
    """Users x items confidence matrix plus the vocabularies and the per-event log.

    Attributes:
        users: user vocabulary (row index <-> user id).
        items: item vocabulary (column index <-> item id).
        log: one row per event: user, item (dense indices), weight, timestamp, session.
        matrix: CSR float32 ``[n_users, n_items]``: summed positive weights per pair.
        negative: CSR bool-like float32 of pairs whose summed weight is <= 0 (e.g.
            ``not_interested``); models never see them as positives and serving excludes them.
    """

    users: Vocabulary
    items: Vocabulary
    log: pl.DataFrame = field(default_factory=_empty_log)
    matrix: sp.csr_matrix = field(init=False)
    negative: sp.csr_matrix = field(init=False)

    def __post_init__(self) -> None:
        self.matrix, self.negative = _aggregate(self.log, len(self.users), len(self.items))

    # --- construction -------------------------------------------------------------
    @classmethod
    def from_events(
        cls,
        events: pl.DataFrame,
        event_weights: Mapping[str, float] | None = None,
        *,
        dwell_reference_seconds: float = 30.0,
        users: Vocabulary | None = None,
        items: Vocabulary | None = None,
        item_ids: pl.Series | None = None,
    ) -> Interactions:
        """Build interactions from events in the store schema.

        The weight of an event is ``event_weights[type]``; views and clicks with a dwell
        time (``value`` seconds) get ``x (1 + log1p(value / dwell_reference_seconds))``,
        capped at 3x. Events whose weight is 0 or that name no item are dropped. The user
        is ``user_id``, else ``anonymous_id``.

        Args:
            events: frame with at least ``user_id``, ``type``, ``item_id``; optionally
                ``anonymous_id``, ``value``, ``timestamp``, ``session_id``.
            event_weights: weight per event type (``Settings.event_weights``).
            dwell_reference_seconds: dwell time that doubles a view's weight.
            users: fixed user vocabulary (unknown users dropped); built from data if None.
            items: fixed item vocabulary (unknown items dropped); built from data if None.
            item_ids: catalog ids appended to a data-built item vocabulary so items without
                events (new items) get an index too.
        """
        weights = dict(DEFAULT_EVENT_WEIGHTS if event_weights is None else event_weights)
        frame = _normalize_events(events, weights, dwell_reference_seconds)
        if users is None:
            users = Vocabulary.from_values(frame["user_id"])
        if items is None:
            items = Vocabulary.from_values(frame["item_id"])
            if item_ids is not None:
                items = items.extend(item_ids.cast(pl.String).drop_nulls().to_list())
        log = pl.DataFrame(
            {
                "user": users.index(frame["user_id"]),
                "item": items.index(frame["item_id"]),
                "weight": frame["weight"],
                "timestamp": frame["timestamp"],
                "session": frame["session_id"],
            }
        )
        log = log.filter((pl.col("user") >= 0) & (pl.col("item") >= 0)).cast(LOG_SCHEMA)  # type: ignore[arg-type]
        return cls(users, items, log)

    @classmethod
    def from_arrays(
        cls,
        user_idx: np.ndarray,
        item_idx: np.ndarray,
        weights: np.ndarray | None = None,
        *,
        timestamps: np.ndarray | None = None,
        sessions: np.ndarray | None = None,
        n_users: int | None = None,
        n_items: int | None = None,
    ) -> Interactions:
        """Build interactions from dense index arrays (ids become ``"0"``, ``"1"``, ...).

        ``timestamps`` are epoch milliseconds (int) or numpy datetime64.
        """
        u = np.asarray(user_idx, dtype=np.int32)
        i = np.asarray(item_idx, dtype=np.int32)
        nu = int(n_users if n_users is not None else (u.max() + 1 if len(u) else 0))
        ni = int(n_items if n_items is not None else (i.max() + 1 if len(i) else 0))
        w = np.ones(len(u), np.float32) if weights is None else np.asarray(weights, np.float32)
        ts = (
            pl.Series("timestamp", [None] * len(u), dtype=pl.Datetime("ms", "UTC"))
            if timestamps is None
            else _to_datetime(np.asarray(timestamps))
        )
        sess = pl.Series("session", sessions, dtype=pl.String) if sessions is not None else None
        log = pl.DataFrame({"user": u, "item": i, "weight": w, "timestamp": ts})
        log = log.with_columns(
            sess if sess is not None else pl.lit(None, dtype=pl.String).alias("session")
        ).cast(LOG_SCHEMA)  # type: ignore[arg-type]
        users = Vocabulary(np.arange(nu).astype(str))
        items = Vocabulary(np.arange(ni).astype(str))
        return cls(users, items, log)

    def with_log(self, log: pl.DataFrame) -> Interactions:
        """Return interactions over the same vocabularies built from another log."""
        return Interactions(self.users, self.items, log)

    def filter(self, mask: np.ndarray | pl.Series) -> Interactions:
        """Return the interactions whose log rows are selected by the boolean ``mask``."""
        return self.with_log(self.log.filter(pl.Series(mask)))

    # --- views --------------------------------------------------------------------
    @property
    def n_users(self) -> int:
        """Number of users in the vocabulary (rows of the matrix)."""
        return len(self.users)

    @property
    def n_items(self) -> int:
        """Number of items in the vocabulary (columns of the matrix)."""
        return len(self.items)

    @property
    def nnz(self) -> int:
        """Number of distinct positive user-item pairs."""
        return int(self.matrix.nnz)

    def binary(self) -> sp.csr_matrix:
        """The matrix with every positive pair set to 1."""
        b = self.matrix.copy()
        b.data = np.ones_like(b.data)
        return b

    def seen(self) -> sp.csr_matrix:
        """Pairs to exclude from recommendations: positives and negatives."""
        out = (self.matrix != 0).astype(np.float32) + (self.negative != 0).astype(np.float32)
        return sp.csr_matrix(out)

    def item_popularity(self) -> np.ndarray:
        """Number of distinct users per item (float64)."""
        return np.asarray((self.matrix > 0).sum(axis=0)).ravel().astype(np.float64)


def _normalize_events(
    events: pl.DataFrame, weights: Mapping[str, float], dwell_ref: float
) -> pl.DataFrame:
    cols = events.columns
    user = pl.col("user_id").cast(pl.String)
    if "anonymous_id" in cols:
        user = pl.coalesce(user, pl.col("anonymous_id").cast(pl.String))
    value = pl.col("value").cast(pl.Float64) if "value" in cols else pl.lit(None, pl.Float64)
    ts = _timestamp_expr(events) if "timestamp" in cols else pl.lit(None, pl.Datetime("ms", "UTC"))
    session = (
        pl.col("session_id").cast(pl.String) if "session_id" in cols else pl.lit(None, pl.String)
    )
    type_ = pl.col("type").cast(pl.String)
    base = type_.replace_strict(
        list(weights.keys()), list(weights.values()), default=0.0, return_dtype=pl.Float64
    )
    dwell = (
        pl.when(type_.is_in(list(DWELL_TYPES)) & (value > 0))
        .then((1.0 + (value / dwell_ref).log1p()).clip(upper_bound=3.0))
        .otherwise(1.0)
    )
    return (
        events.select(
            user.alias("user_id"),
            pl.col("item_id").cast(pl.String),
            (base * dwell).alias("weight"),
            ts.alias("timestamp"),
            session.alias("session_id"),
        )
        .filter(pl.col("user_id").is_not_null() & pl.col("item_id").is_not_null())
        .filter(pl.col("weight") != 0)
    )


def _timestamp_expr(events: pl.DataFrame) -> pl.Expr:
    dtype = events.schema["timestamp"]
    col = pl.col("timestamp")
    if dtype == pl.String:
        return col.str.to_datetime(time_zone="UTC", time_unit="ms")
    if isinstance(dtype, pl.Datetime):
        col = col.dt.replace_time_zone("UTC") if dtype.time_zone is None else col
        return col.dt.convert_time_zone("UTC").dt.cast_time_unit("ms")
    if dtype.is_integer():
        return pl.from_epoch(col, time_unit="ms").dt.replace_time_zone("UTC")
    return col.cast(pl.Datetime("ms", "UTC"))


def _to_datetime(ts: np.ndarray) -> pl.Series:
    if np.issubdtype(ts.dtype, np.datetime64):
        ms = ts.astype("datetime64[ms]").astype(np.int64)
    else:
        ms = ts.astype(np.int64)
    return pl.Series("timestamp", ms).cast(pl.Datetime("ms")).dt.replace_time_zone("UTC")


def _aggregate(
    log: pl.DataFrame, n_users: int, n_items: int
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    shape = (n_users, n_items)
    if log.height == 0:
        empty = sp.csr_matrix(shape, dtype=np.float32)
        return empty, empty.copy()
    u = log["user"].to_numpy()
    i = log["item"].to_numpy()
    w = log["weight"].to_numpy().astype(np.float32)
    total = sp.csr_matrix((w, (u, i)), shape=shape, dtype=np.float32)
    total.sum_duplicates()
    pos = total.multiply(total > 0).tocsr().astype(np.float32)
    pos.eliminate_zeros()
    # pairs touched by a negative event whose net weight is not positive
    nu_, ni_ = u[w < 0], i[w < 0]
    net = np.asarray(total[nu_, ni_]).ravel() if len(nu_) else np.empty(0, np.float32)
    keep = net <= 0
    neg = sp.csr_matrix((np.ones(int(keep.sum()), np.float32), (nu_[keep], ni_[keep])), shape=shape)
    neg.sum_duplicates()
    neg.data = np.ones_like(neg.data)
    pos.sort_indices()
    return pos, neg
