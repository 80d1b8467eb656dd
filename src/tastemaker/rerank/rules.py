"""Business rules from configuration: boost, bury, new-item slots, caps per value, pins."""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tastemaker.rerank.context import RerankContext
from tastemaker.rerank.filters import parse_filters
from tastemaker.retrieval.itemlist import ItemList, Source
from tastemaker.retrieval.itemtable import ItemTable


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScoreRule(_Config):
    """Multiply the score of items matching ``filter`` (same syntax as ``filters=``)."""

    filter: str
    factor: float = Field(gt=0)


class ScoreRulesConfig(_Config):
    """Boosts (factor > 1) and buries (factor < 1); scores are positive after scoring."""

    boost: list[ScoreRule] = Field(default_factory=list)
    bury: list[ScoreRule] = Field(default_factory=list)


class ScoreRules:
    """Re-weights matching items and re-sorts the list."""

    def __init__(self, config: ScoreRulesConfig, table: ItemTable) -> None:
        self.config = config
        factor = np.ones(len(table), np.float32)
        for rule in [*config.boost, *config.bury]:
            factor[parse_filters(rule.filter).mask(table)] *= np.float32(rule.factor)
        self.factor_ = factor

    def __call__(self, items: ItemList, ctx: RerankContext) -> ItemList:
        """Scores times the factors of the rules each item matches, best first."""
        if not (self.config.boost or self.config.bury):
            return items
        return items.with_score(items.score * self.factor_[items.index]).sorted()


def spread_positions(n: int, k: int) -> np.ndarray:
    """``n`` positions spread evenly over a list of ``k`` (never the first)."""
    return np.asarray([max(1, (k * (j + 1)) // (n + 1)) for j in range(n)], np.int64)


class NewItemsConfig(_Config):
    """A share of the top-k slots kept for new items."""

    share: float = Field(default=0.1, ge=0, le=1)
    days: float = Field(default=14.0, gt=0, description="created within this many days")


class NewItemSlots:
    """Moves the best new items up until ``share x k`` of the top-k are new."""

    def __init__(self, config: NewItemsConfig, table: ItemTable) -> None:
        self.config = config
        self.new_ = table.is_new(config.days)

    def __call__(self, items: ItemList, ctx: RerankContext) -> ItemList:
        """Same items; some new ones moved into the top-k."""
        want = math.ceil(self.config.share * ctx.k) if self.config.share > 0 else 0
        is_new = self.new_[items.index]
        have = int(is_new[: ctx.k].sum())
        if want <= have:
            return items
        later = np.flatnonzero(is_new)
        later = later[later >= ctx.k][: want - have]
        if len(later) == 0:
            return items
        return items.move_to(later, spread_positions(len(later), ctx.k))


class CapsConfig(_Config):
    """At most N items per value of a column in the top-k (e.g. ``{brand: 2}``)."""

    max_per: dict[str, int] = Field(default_factory=dict)


class Caps:
    """Skips items past the cap of their brand / category; the list is cut to k."""

    def __init__(self, config: CapsConfig, table: ItemTable) -> None:
        self.config = config
        self.codes_ = {
            c: table.categorical[c].codes for c in config.max_per if c in table.categorical
        }

    def __call__(self, items: ItemList, ctx: RerankContext) -> ItemList:
        """The first ``k`` items in list order that keep every count within its cap."""
        if not self.codes_ or len(items) == 0:
            return items
        counts: dict[str, dict[int, int]] = {c: {} for c in self.codes_}
        codes = {c: arr[items.index] for c, arr in self.codes_.items()}
        keep: list[int] = []
        for pos in range(len(items)):
            if len(keep) == ctx.k:
                break
            if all(
                codes[c][pos] < 0 or counts[c].get(int(codes[c][pos]), 0) < self.config.max_per[c]
                for c in codes
            ):
                keep.append(pos)
                for c in codes:
                    counts[c][int(codes[c][pos])] = counts[c].get(int(codes[c][pos]), 0) + 1
        return items.take(np.asarray(keep, np.int64))


class PinRule(_Config):
    """Show ``item_id`` at ``position`` (1-based) whenever it is allowed."""

    item_id: str
    position: int = Field(ge=1)


class PinsConfig(_Config):
    """Pinned items."""

    pins: list[PinRule] = Field(default_factory=list)


class Pins:
    """Places pinned items at their positions (hard filters still apply)."""

    def __init__(self, config: PinsConfig, table: ItemTable) -> None:
        self.config = config
        idx = table.vocab.index([p.item_id for p in config.pins])
        positions = np.asarray([p.position - 1 for p in config.pins], np.int64)
        _, first = np.unique(idx, return_index=True)  # an item pinned twice: first rule wins
        keep = np.sort(first)
        keep = keep[idx[keep] >= 0]
        self.items_, self.positions_ = idx[keep], positions[keep]

    def __call__(self, items: ItemList, ctx: RerankContext) -> ItemList:
        """The list with allowed pinned items inserted (or moved) to their positions."""
        if len(self.items_) == 0:
            return items
        ok = ~ctx.is_blocked(self.items_)
        pins, positions = self.items_[ok], self.positions_[ok]
        absent = ~np.isin(pins, items.index)
        extra = ItemList.of(pins[absent], np.zeros(int(absent.sum()), np.float32), Source.PINNED)
        merged = ItemList.concat([items, extra])
        where = {int(i): p for p, i in enumerate(merged.index.tolist())}
        at = np.asarray([where[int(i)] for i in pins], np.int64)
        src = merged.source.copy()
        src[at] = Source.PINNED
        moved = ItemList(merged.index, merged.score, src, merged.anchor)
        return moved.move_to(at, positions)
