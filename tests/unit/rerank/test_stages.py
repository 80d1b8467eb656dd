"""Every re-ranking rule on a twelve-item catalog."""

from __future__ import annotations

import numpy as np

from tastemaker.rerank.chain import RerankConfig, build_stages, rerank
from tastemaker.rerank.context import Exposure, RerankContext
from tastemaker.rerank.diversity import MMR, MMRConfig
from tastemaker.rerank.exploration import Exploration, ExplorationConfig
from tastemaker.rerank.filters import parse_filters
from tastemaker.rerank.hard import HardFilter, HardFilterConfig
from tastemaker.rerank.rules import (
    Caps,
    CapsConfig,
    NewItemsConfig,
    NewItemSlots,
    PinRule,
    Pins,
    PinsConfig,
    ScoreRule,
    ScoreRules,
    ScoreRulesConfig,
)
from tastemaker.retrieval.itemlist import ItemList, Source
from tastemaker.retrieval.itemtable import ItemTable


def _ranked(n: int = 12) -> ItemList:
    return ItemList.of(np.arange(n), np.linspace(1.0, 0.1, n))


def test_hard_filters_drop_filtered_out_of_stock_purchased_not_interested(
    table: ItemTable, ctx: RerankContext
) -> None:
    ctx.allowed = parse_filters("price<11000").mask(table)
    ctx.purchased = np.array([2])
    ctx.not_interested = np.array([3])
    ctx.seen = np.array([4])
    kept = HardFilter(HardFilterConfig(seen=False))(_ranked(), ctx)
    assert kept.index.tolist() == [0, 4, 5, 6, 7, 8, 9]  # 1 out of stock, 10/11 too dear
    assert ctx.blocked is not None and ctx.blocked[1] and ctx.blocked[10]
    assert 4 not in HardFilter()(_ranked(), ctx).index.tolist()  # seen excluded by default


def test_boost_and_bury(table: ItemTable, ctx: RerankContext) -> None:
    cfg = ScoreRulesConfig(
        boost=[ScoreRule(filter="brand:c", factor=10)],
        bury=[ScoreRule(filter="brand:a", factor=0.1)],
    )
    out = ScoreRules(cfg, table)(_ranked(), ctx)
    assert out.index.tolist()[:4] == [2, 5, 8, 11]  # brand c first
    assert out.index.tolist()[-4:] == [0, 3, 6, 9][::-1][::-1] or set(out.index.tolist()[-4:]) == {
        0,
        3,
        6,
        9,
    }


def test_caps_per_brand(table: ItemTable, ctx: RerankContext) -> None:
    out = Caps(CapsConfig(max_per={"brand": 1}), table)(_ranked(), ctx)
    assert out.index.tolist() == [0, 1, 2]  # one of each brand, then nothing fits
    ctx.k = 4
    two = Caps(CapsConfig(max_per={"brand": 2, "category": 1}), table)(_ranked(), ctx)
    brands = [table.label("brand", i) for i in two.index]
    cats = [table.label("category", i) for i in two.index]
    assert max(brands.count(b) for b in brands) <= 2 and cats.count("van") <= 1


def test_new_items_get_their_share_of_slots(table: ItemTable, ctx: RerankContext) -> None:
    out = NewItemSlots(NewItemsConfig(share=0.4, days=14), table)(_ranked(), ctx)
    top = out.index.tolist()[: ctx.k]
    assert {10, 11} <= set(top)
    assert out.index.tolist()[0] == 0  # never the first slot
    assert len(out) == 12


def test_pins_land_at_their_position_unless_blocked(table: ItemTable, ctx: RerankContext) -> None:
    pins = Pins(
        PinsConfig(pins=[PinRule(item_id="i9", position=1), PinRule(item_id="i1", position=2)]),
        table,
    )
    ctx.blocked = ~table.in_stock
    out = pins(ItemList.of([0, 2, 3, 4, 5]), ctx)  # i9 is not among the candidates: inserted
    assert out.index.tolist()[0] == 9 and out.source[0] == Source.PINNED
    assert 1 not in out.index.tolist()  # i1 is out of stock: not brought in
    assert out.index.tolist()[1:] == [0, 2, 3, 4, 5]


def test_mmr_lambda_one_keeps_order_and_low_lambda_diversifies(
    table: ItemTable, ctx: RerankContext
) -> None:
    items = ItemList.of([0, 3, 6, 9, 1, 2], [1.0, 0.99, 0.98, 0.97, 0.5, 0.4])  # brand a first
    same = MMR(MMRConfig(lambda_=1.0), table)(items, ctx)
    assert same.index.tolist() == items.index.tolist()
    ctx.k = 3
    mixed = MMR(MMRConfig(**{"lambda": 0.3, "columns": ["brand"]}), table)(items, ctx)
    brands = {table.label("brand", i) for i in mixed.index[:3]}
    assert len(brands) >= 2 and mixed.index[0] == 0
    vec = np.eye(12, dtype=np.float32)
    vec[3] = vec[0]  # items 0 and 3 are identical in vector space
    ctx.item_vectors = vec
    by_vec = MMR(MMRConfig(lambda_=0.5), table)(items, ctx)
    assert by_vec.index.tolist()[1] != 3


def test_exploration_fills_its_share_with_little_exposed_items(ctx: RerankContext) -> None:
    assert ctx.exposure is not None
    ctx.exposure.impressions[:] = 1000
    ctx.exposure.impressions[[8, 9]] = 0
    ctx.k = 10
    out = Exploration(ExplorationConfig(share=0.2, max_impressions=100))(_ranked(), ctx)
    top = out.index.tolist()[:10]
    assert {8, 9} <= set(top)
    assert (out.source[:10] == Source.EXPLORE).sum() == 2
    assert Exploration(ExplorationConfig(share=0.0))(_ranked(), ctx).index.tolist() == list(
        range(12)
    )


def test_thompson_sampling_prefers_items_that_convert(ctx: RerankContext) -> None:
    ctx.k, wins = 2, 0
    assert ctx.exposure is not None
    ctx.exposure.impressions[:] = 50
    ctx.exposure.clicks[5], ctx.exposure.clicks[6] = 40, 1
    for seed in range(50):
        ctx.rng = np.random.default_rng(seed)
        out = Exploration(ExplorationConfig(share=0.5))(_ranked(), ctx)
        wins += int(out.index[1] == 5)
    assert wins >= 45


def test_the_chain_runs_every_stage_and_cuts_to_k(table: ItemTable) -> None:
    cfg = RerankConfig.model_validate(
        {
            "pins": {"pins": [{"item_id": "i7", "position": 1}]},
            "caps": {"max_per": {"brand": 2}},
            "diversity": {"lambda": 0.7},
            "exploration": {"share": 0.2},
        }
    )
    stages = build_stages(cfg, table)
    assert stages[0][0] == "hard_filters"
    ctx = RerankContext(k=5, table=table, exposure=Exposure.zeros(12), purchased=np.array([0]))
    out = rerank(_ranked(), ctx, stages)
    assert len(out) == 5 and out.index[0] == 7
    assert 0 not in out.index and 1 not in out.index
