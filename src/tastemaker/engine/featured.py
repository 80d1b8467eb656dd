"""The personalized featured listing: one item for the top of a search page.

The engine runs it as the same named stages as a recommendation list: the profile
signals (segments, feedback, purchases) come from the engine's profile step, and the hard
filters are the recommendation list's (``rerank.hard.blocked_mask`` with the same
configuration): explicit filters, stock, purchased and "not interested" items. So the
candidate set is always a subset of the items that satisfy the filters. Among candidates,
each of the user's segments that some candidate matches adds its score to the items it
matches; the best total wins, ties go to the configured secondary order (freshness,
sponsored, price) and then to the first item id. A configured eligible pool (e.g.
``sponsored:true``) restricts candidates further unless it leaves nothing. Without
segments, for an unknown user or when the profile store cannot be read, a random
candidate is featured (never an error). The result names the rule.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import polars as pl

from tastemaker.models.vocab import Vocabulary
from tastemaker.profiles.rules import Composite, Leaf, Node, Ref, SegmentRules
from tastemaker.rerank.context import RerankContext
from tastemaker.rerank.filters import Filters, parse_filters
from tastemaker.rerank.hard import HardFilterConfig, blocked_mask
from tastemaker.retrieval.itemtable import ItemTable

log = logging.getLogger(__name__)
_EPS = 1e-9


@dataclass
class FeaturedResult:
    """The featured item (None when no item satisfies the filters) and why it was chosen."""

    item: dict[str, Any] | None
    rule: str
    reason: str
    personalized: bool
    segments: dict[str, float] = field(default_factory=dict)
    candidates: int = 0
    filters: str = ""
    #: experiment key -> variant the listing was served under
    experiments: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the API response body; ``experiments`` only when assigned)."""
        extra = {"experiments": self.experiments} if self.experiments else {}
        return extra | {
            "item": self.item,
            "rule": self.rule,
            "reason": self.reason,
            "personalized": self.personalized,
            "segments": self.segments,
            "candidates": self.candidates,
            "filters": self.filters,
        }


class CatalogIndex:
    """Catalog arrays (`ItemTable`) for one catalog generation, plus cached segment masks."""

    def __init__(self, items: pl.DataFrame) -> None:
        self.items = items
        self.table = ItemTable.build(items, Vocabulary())
        self.masks: dict[tuple[str, frozenset[str]], np.ndarray] = {}
        # memoized per catalog generation (this object): candidates per filter, and the
        # personalized choice per (segments, filter, rules version)
        self.eligible: dict[Any, tuple[np.ndarray, str, int]] = {}
        self.choices: dict[Any, tuple[int, dict[str, float]] | None] = {}
        self.base = self.table.in_catalog & self.table.in_stock
        n = len(self.table)
        created = self.table.created_ms.astype(np.float64)
        price = self.table.numeric.get("price", np.full(n, np.nan))
        sponsored = np.nan_to_num(self.table.numeric.get("sponsored", np.zeros(n)), nan=0.0)
        sponsored_cat = self.table.categorical.get("sponsored")
        if sponsored_cat is not None:
            sponsored = np.isin(sponsored_cat.codes, [sponsored_cat.code_of("true")]).astype(float)
        self.order = {
            "freshness": created,
            "sponsored": sponsored * 1e15 + created,
            "price_low": -np.nan_to_num(price, nan=np.inf),
            "price_high": np.nan_to_num(price, nan=-np.inf),
        }

    def without_memos(self) -> CatalogIndex:
        """The same catalog arrays and segment masks, with no memo that depends on the
        hard filters (for a service with another hard-filter configuration)."""
        other = copy.copy(self)
        other.eligible, other.choices = {}, {}
        return other

    @staticmethod
    def remember(memo: dict[Any, Any], key: Any, value: Any, limit: int = 4096) -> None:
        """Store ``value`` in a bounded memo (cleared when full)."""
        if len(memo) >= limit:
            memo.clear()
        memo[key] = value

    def leaf_mask(self, leaf: Leaf) -> np.ndarray:
        """Items whose attribute has one of the leaf's values (cached)."""
        key = (leaf.attribute, leaf.values)
        got = self.masks.get(key)
        if got is None:
            cat = self.table.categorical.get(leaf.attribute)
            if cat is None:
                got = np.zeros(len(self.table), bool)
            else:
                codes = [cat.code_of(v) for v in leaf.values]
                got = np.isin(cat.codes, [c for c in codes if c >= 0])
            self.masks[key] = got
        return got

    def node_mask(self, node: Node, rules: SegmentRules) -> np.ndarray:
        """Items that match a rule: leaves by value, ``all`` as AND, ``any`` as OR."""
        if isinstance(node, Leaf):
            return self.leaf_mask(node)
        if isinstance(node, Ref):
            return self.node_mask(rules.segments[node.name], rules)
        assert isinstance(node, Composite)
        masks = [self.node_mask(c, rules) for c in node.children]
        out = masks[0].copy()
        for m in masks[1:]:
            out = (out & m) if node.op == "all" else (out | m)
        return out

    def item(self, index: int) -> dict[str, Any]:
        """The catalog row of one item as JSON-ready values."""
        row = self.items.row(index, named=True)
        return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


class CatalogSource(Protocol):
    """The catalog with profile attributes (``ProfileService.catalog``) and its generation."""

    generation: int

    def items(self) -> pl.DataFrame:
        """The catalog frame (attributes the segment rules read included)."""
        ...


class RulesSource(Protocol):
    """The active segment rules (``ProfileService.rules``)."""

    def current(self) -> SegmentRules:
        """The rules in force."""
        ...


@dataclass(frozen=True)
class FeaturedUser:
    """What the featured listing knows of the requesting user.

    Attributes:
        segments: segment name -> score (empty when none, or no profile).
        why: why the listing cannot be personalized ("" when ``segments`` decide).
        excluded: item ids the hard filters remove for this user (purchased, not
            interested), as the recommendation list's profile step found them.
    """

    segments: dict[str, float] = field(default_factory=dict)
    why: str = "anonymous request"
    excluded: tuple[Sequence[str], Sequence[str]] = ((), ())


class FeaturedService:
    """Chooses the featured listing for a user and a set of explicit filters.

    Args:
        catalog: the catalog with profile attributes, rebuilt when its generation changes.
        rules: the active segment rules.
        hard: the hard-filter configuration shared with the recommendation list.
        seed: seed of the random fallback.
    """

    def __init__(
        self,
        catalog: CatalogSource,
        rules: RulesSource,
        hard: HardFilterConfig | None = None,
        seed: int = 0,
    ) -> None:
        self.catalog = catalog
        self.rules_source = rules
        self.hard = hard or HardFilterConfig()
        self._rng = np.random.default_rng(seed)
        self._index: CatalogIndex | None = None
        self._generation = -1
        self._lock = threading.Lock()

    def reconfigured(self, hard: HardFilterConfig) -> FeaturedService:
        """A service with the hard filters ``hard``, reusing this one's catalog arrays (a
        settings reload then does not rebuild them on the next featured request)."""
        other = FeaturedService(self.catalog, self.rules_source, hard)
        other._rng = self._rng
        with self._lock:
            if self._index is not None:
                other._index, other._generation = self._index.without_memos(), self._generation
        return other

    def index(self) -> CatalogIndex:
        """Catalog arrays, rebuilt when the catalog changed."""
        items = self.catalog.items()
        if self._index is None or self._generation != self.catalog.generation:
            with self._lock:
                self._index = CatalogIndex(items)
                self._generation = self.catalog.generation
        return self._index

    def choose(self, user: FeaturedUser, filters: Filters | str | None = None) -> FeaturedResult:
        """The featured item for a user and filters.

        Raises:
            ValidationFailedError: malformed filters or an unknown filter field.
        """
        flt = filters if isinstance(filters, Filters) else parse_filters(filters)
        idx = self.index()
        rules = self._rules()
        eligible, pool_note, n = self._eligible(idx, flt, rules, user)
        if n == 0:
            return FeaturedResult(None, "none", "no item satisfies the filters", False,
                                  filters=flt.key())  # fmt: skip
        segments, why = user.segments, user.why or "user has no segment"
        if segments and rules is not None:
            memo = (tuple(sorted(segments.items())), flt.key(), rules.version, rules.featured,
                    tuple(map(tuple, user.excluded)))  # fmt: skip
            picked = idx.choices.get(memo)
            if picked is None:
                picked = self._personalized(idx, eligible, segments, rules)
                idx.remember(idx.choices, memo, picked)
            if picked is not None:
                index, used = picked
                return FeaturedResult(
                    idx.item(index), "segments:" + "+".join(used), "best match" + pool_note,
                    True, used, n, flt.key(),
                )  # fmt: skip
            why = "no candidate matches the user's segments"
        choice = int(self._rng.choice(np.flatnonzero(eligible)))
        return FeaturedResult(idx.item(choice), "fallback:random", why + pool_note, False,
                              candidates=n, filters=flt.key())  # fmt: skip

    def _rules(self) -> SegmentRules | None:
        try:
            return self.rules_source.current()
        except Exception as exc:
            log.warning("segment rules unavailable: %s", exc)
            return None

    def _eligible(
        self, idx: CatalogIndex, flt: Filters, rules: SegmentRules | None, user: FeaturedUser
    ) -> tuple[np.ndarray, str, int]:
        """Candidates: the hard filters' survivors, narrowed to the eligible pool.

        The user-independent part is memoized per filter, pool and catalog generation.
        """
        pool = rules.featured.pool if rules is not None else None
        key = (flt.key(), pool)
        got = idx.eligible.get(key)
        if got is None:
            ctx = RerankContext(k=1, table=idx.table, allowed=flt.mask(idx.table))
            allowed = ~blocked_mask(self.hard, ctx)
            eligible, note = self._pool(idx, allowed, rules)
            got = (eligible, note, int(eligible.sum()))
            idx.remember(idx.eligible, key, got)
        purchased, refused = user.excluded
        if not len(purchased) and not len(refused):
            return got
        ctx = RerankContext(
            k=1,
            table=idx.table,
            allowed=got[0],
            purchased=idx.table.lookup(list(purchased)),
            not_interested=idx.table.lookup(list(refused)),
        )
        eligible = ~blocked_mask(self.hard, ctx)
        return eligible, got[1], int(eligible.sum())

    def _pool(
        self, idx: CatalogIndex, eligible: np.ndarray, rules: SegmentRules | None
    ) -> tuple[np.ndarray, str]:
        if rules is None or not rules.featured.pool:
            return eligible, ""
        pooled = eligible & parse_filters(rules.featured.pool).mask(idx.table)
        if pooled.any():
            return pooled, ""
        return eligible, " (eligible pool has no matching item)"

    def _personalized(
        self,
        idx: CatalogIndex,
        eligible: np.ndarray,
        segments: dict[str, float],
        rules: SegmentRules,
    ) -> tuple[int, dict[str, float]] | None:
        cand = np.flatnonzero(eligible)  # scores only over the items the filters allow
        score = np.zeros(len(cand))
        applicable: list[tuple[str, float, np.ndarray]] = []
        for name, s in sorted(segments.items(), key=lambda kv: (-kv[1], kv[0])):
            node = rules.segments.get(name)
            if node is None:
                continue
            mask = idx.node_mask(node, rules)
            hit = mask[cand]
            if hit.any():
                score += s * hit
                applicable.append((name, s, mask))
        if not applicable:
            return None
        best = score.max()
        if best <= 0:
            return None
        tied = cand[score >= best - _EPS]
        order = idx.order.get(rules.featured.tie_break, idx.order["freshness"])
        index = int(tied[np.argmax(order[tied])])  # argmax keeps the first (lowest id) on ties
        used = {name: s for name, s, mask in applicable if mask[index]}
        return index, used
