"""The re-ranking chain: its typed configuration and the stages in their fixed order.

Order: hard filters -> boost / bury -> diversity (MMR) -> new-item slots -> exploration
-> caps per brand / category -> pins -> cut to k. Hard filters come first so no later
stage can see a forbidden item; pins and exploration re-check the blocked mask.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

from tastemaker.rerank.context import RerankContext
from tastemaker.rerank.diversity import MMR, MMRConfig
from tastemaker.rerank.exploration import Exploration, ExplorationConfig
from tastemaker.rerank.hard import HardFilter, HardFilterConfig
from tastemaker.rerank.rules import (
    Caps,
    CapsConfig,
    NewItemsConfig,
    NewItemSlots,
    Pins,
    PinsConfig,
    ScoreRules,
    ScoreRulesConfig,
)
from tastemaker.retrieval.itemlist import ItemList
from tastemaker.retrieval.itemtable import ItemTable

Stage = Callable[[ItemList, RerankContext], ItemList]


class RerankConfig(BaseModel):
    """Every re-ranking setting, one section per stage."""

    model_config = ConfigDict(extra="forbid")

    hard: HardFilterConfig = Field(default_factory=HardFilterConfig)
    scores: ScoreRulesConfig = Field(default_factory=ScoreRulesConfig)
    diversity: MMRConfig = Field(default_factory=MMRConfig)
    new_items: NewItemsConfig = Field(default_factory=NewItemsConfig)
    exploration: ExplorationConfig = Field(default_factory=ExplorationConfig)
    caps: CapsConfig = Field(default_factory=CapsConfig)
    pins: PinsConfig = Field(default_factory=PinsConfig)


class Cut:
    """The first ``k`` items."""

    def __call__(self, items: ItemList, ctx: RerankContext) -> ItemList:
        """Cut the list to ``ctx.k``."""
        return items.head(ctx.k)


def build_stages(config: RerankConfig, table: ItemTable) -> list[tuple[str, Stage]]:
    """The named stages in order, rules compiled against ``table``.

    Raises:
        ValidationFailedError: a boost / bury filter is malformed or names an unknown field.
    """
    return [
        ("hard_filters", HardFilter(config.hard)),
        ("boost_bury", ScoreRules(config.scores, table)),
        ("diversity", MMR(config.diversity, table)),
        ("new_items", NewItemSlots(config.new_items, table)),
        ("exploration", Exploration(config.exploration)),
        ("caps", Caps(config.caps, table)),
        ("pins", Pins(config.pins, table)),
        ("cut", Cut()),
    ]


def rerank(items: ItemList, ctx: RerankContext, stages: list[tuple[str, Stage]]) -> ItemList:
    """Run ``items`` through every stage."""
    for _, stage in stages:
        items = stage(items, ctx)
    return items
