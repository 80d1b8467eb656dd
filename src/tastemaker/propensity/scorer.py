"""Online purchase propensity: the active model scored on features computed as of now.

The user's side of the features comes from the profile timeline (so an event sent a moment
ago counts at once); the items' popularity from a snapshot of the event log that is taken
with the same feature code and refreshed every ``refresh_seconds``. A promotion or rollback
in the propensity registry is picked up on the next request.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl

from tastemaker.errors import NotFoundError, ValidationFailedError
from tastemaker.propensity.features import (
    EVENT_SCHEMA,
    FEATURE_NAMES,
    FEATURES,
    INTEREST,
    OPEN_MS,
    PropensityWindows,
    item_events,
    item_stats,
    pair_features,
)
from tastemaker.propensity.model import PropensityModel
from tastemaker.propensity.training import logged_links, registry_of, windows_of
from tastemaker.registry.registry import ModelRegistry
from tastemaker.schema import ITEM_EVENT_TYPES
from tastemaker.workspace import Workspace


@dataclass
class Factor:
    """One feature's push on a probability (log-odds units, before calibration)."""

    feature: str
    value: float
    contribution: float
    description: str


@dataclass
class ItemPropensity:
    """The probability that the user buys one item, and the strongest reasons."""

    item_id: str
    probability: float
    factors: list[Factor] = field(default_factory=list)


@dataclass
class PropensityAnswer:
    """Scores for one user from one model version."""

    user_id: str
    model_version: str
    known_user: bool
    items: list[ItemPropensity]


_LATEST_MS = 4_102_444_800_000  # 2100-01-01
_STATS_KEPT = 16  # popularity snapshots kept (one per time asked)


def as_of_ms(at: datetime | None) -> int | None:
    """Epoch ms of a scoring time (naive times are UTC); None stays None (= now)."""
    if at is None:
        return None
    return int((at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp() * 1000)


class PropensityScorer:
    """Scores (user, item) pairs with the active propensity model of a workspace.

    Args:
        ws: the workspace (profiles, store, settings).
        refresh_seconds: how old the item popularity snapshot may get.
    """

    def __init__(self, ws: Workspace, refresh_seconds: float = 300.0) -> None:
        self.ws = ws
        self.windows = PropensityWindows()
        self.registry: ModelRegistry = registry_of(ws)
        self.refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._token: tuple[int, int] | None = None
        self._model: tuple[str, PropensityModel] | None = None
        self._stats: dict[int | None, tuple[float, pl.DataFrame]] = {}

    def model(self) -> tuple[str, PropensityModel]:
        """The active (version, model), reloaded when the registry's pointers change.

        Raises:
            NotFoundError: no propensity model was promoted yet.
        """
        token = self.registry.state_token()
        with self._lock:
            if self._model is None or token != self._token:
                version = self.registry.state().active
                if version is None:
                    raise NotFoundError(
                        "no propensity model is active: run `tastemaker propensity train --promote`"
                    )
                manifest = self.registry.check_schema(version)
                self._model = (version, PropensityModel.load(self.registry.path(version)))
                if windows_of(manifest) != self.windows:
                    self._stats = {}
                self.windows = windows_of(manifest)
                self._token = token
            return self._model

    def item_stats(self, now_ms: int, *, live: bool = False) -> pl.DataFrame:
        """Item popularity as of ``now_ms``, cached per time asked for ``refresh_seconds``.

        A live request (``live``: the time is "now") shares one snapshot until it is older than
        the refresh; a request for an explicit time gets popularity as of exactly that time,
        whatever was asked before.
        """
        key = None if live else now_ms
        with self._lock:
            hit = self._stats.get(key)
            if hit is not None and time.monotonic() - hit[0] < self.refresh_seconds:
                return hit[1]
        start = now_ms - self.windows.item_ms
        log = self.ws.store.events(
            start=datetime.fromtimestamp(start / 1000, UTC),
            end=datetime.fromtimestamp(now_ms / 1000, UTC),
            types=sorted(ITEM_EVENT_TYPES),
        )
        links = logged_links(self.ws, datetime.fromtimestamp(now_ms / 1000, UTC))
        stats = item_stats(item_events(log, links), [now_ms], self.windows)
        with self._lock:
            if len(self._stats) >= _STATS_KEPT:
                self._stats.pop(next(iter(self._stats)))
            self._stats[key] = (time.monotonic(), stats)
        return stats

    def timeline(self, user_key: str) -> pl.DataFrame | None:
        """The user's recent item events in feature shape, or None for an unknown user."""
        state = self.ws.profiles.state(user_key)
        if state is None:
            return None
        # the profile already holds the visitor events stitched into it: they are its own
        rows = [(user_key, e[3], e[2], e[4], e[0], 0, OPEN_MS) for e in state.timeline]
        return pl.DataFrame(rows, schema=EVENT_SCHEMA, orient="row")

    def _touched(self, events: pl.DataFrame, now: int) -> list[str]:
        """Items the user showed interest in during the user window before ``now``."""
        recent = events.filter(
            pl.col("type").is_in(INTEREST)
            & (pl.col("ts") < now)
            & (pl.col("ts") >= now - self.windows.user_ms)
        )
        return [str(i) for i in recent["item_id"].to_list()]

    def score(
        self,
        user_key: str,
        item_ids: list[str] | None = None,
        *,
        k: int = 20,
        factors: int = 3,
        now_ms: int | None = None,
    ) -> PropensityAnswer:
        """Probabilities for ``item_ids``, or for the items the user showed interest in
        during the user window (the population the model was trained on), highest first.

        Raises:
            NotFoundError: no active model, or a requested item id not in the catalog.
            ValidationFailedError: k out of range.
        """
        if not 1 <= k <= 500:
            raise ValidationFailedError(f"k must be within 1..500, got {k}")
        now = int(time.time() * 1000) if now_ms is None else now_ms
        if not 0 <= now <= _LATEST_MS:
            raise ValidationFailedError("the scoring time must be within 1970..2100")
        version, model = self.model()
        events = self.timeline(user_key)
        known = events is not None
        if events is None:
            events = pl.DataFrame(schema=EVENT_SCHEMA)
        requested = item_ids is not None
        item_ids = list(dict.fromkeys(self._touched(events, now) if item_ids is None else item_ids))
        if not item_ids:
            return PropensityAnswer(user_key, version, known, [])
        # the user's own events need their items' category and price too (category share,
        # price ratio), not only the items asked about
        catalog = self.ws.store.items(sorted(set(item_ids) | set(events["item_id"].to_list())))
        missing = sorted(set(item_ids) - set(catalog["item_id"].to_list()))
        if requested and missing:
            raise NotFoundError(f"item '{missing[0]}' is not in the catalog", item_id=missing[0])
        queries = pl.DataFrame(
            {
                "user_id": [user_key] * len(item_ids),
                "item_id": item_ids,
                "as_of": [now] * len(item_ids),
            },
            schema={"user_id": pl.String, "item_id": pl.String, "as_of": pl.Int64},
        )
        stats = self.item_stats(now, live=now_ms is None)
        feats = pair_features(queries, events, catalog, stats, self.windows)
        x = feats.select(FEATURE_NAMES).to_numpy().astype(np.float64)
        probs = model.predict(x)
        contrib = model.contributions(x) if factors > 0 else np.zeros_like(x)
        order = np.argsort(-probs, kind="stable")[:k]
        ids = feats["item_id"].to_list()
        out = [
            ItemPropensity(ids[i], float(probs[i]), _top_factors(x[i], contrib[i], factors))
            for i in order
        ]
        return PropensityAnswer(user_key, version, known, out)


def _top_factors(values: np.ndarray, contrib: np.ndarray, n: int) -> list[Factor]:
    order = np.argsort(-np.abs(contrib), kind="stable")[:n]
    return [
        Factor(FEATURE_NAMES[j], float(values[j]), float(contrib[j]), FEATURES[FEATURE_NAMES[j]])
        for j in order
        if contrib[j] != 0.0
    ]


def answer_dict(answer: PropensityAnswer, raw_user_id: str) -> dict[str, Any]:
    """JSON-ready form of an answer (the raw user id as the caller sent it)."""
    return {
        "user_id": raw_user_id,
        "model_version": answer.model_version,
        "known_user": answer.known_user,
        "items": [
            {
                "item_id": it.item_id,
                "probability": round(it.probability, 6),
                "factors": [
                    {
                        "feature": f.feature,
                        "value": round(f.value, 4),
                        "contribution": round(f.contribution, 4),
                        "description": f.description,
                    }
                    for f in it.factors
                ],
            }
            for it in answer.items
        ],
    }
