"""Property: whatever the candidates, rules and draws, a list never holds a forbidden item.

Forbidden: fails the request's filters, out of stock, purchased, or marked not interested.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from tastemaker.models.vocab import Vocabulary
from tastemaker.rerank.chain import RerankConfig, build_stages, rerank
from tastemaker.rerank.context import Exposure, RerankContext
from tastemaker.rerank.filters import parse_filters
from tastemaker.retrieval.itemlist import ItemList, Source
from tastemaker.retrieval.itemtable import ItemTable

N = 40
FILTERS = ["", "fuel_type:electric", "brand:a|b", "price<20000", "fuel_type!=petrol,price>=5000"]


@st.composite
def scenario(draw: st.DrawFn) -> dict[str, object]:
    """A random catalog state, request and rule set."""
    idx = st.integers(0, N - 1)
    return {
        "stock": draw(st.lists(st.booleans(), min_size=N, max_size=N)),
        "purchased": draw(st.lists(idx, max_size=10)),
        "not_interested": draw(st.lists(idx, max_size=10)),
        "filters": draw(st.sampled_from(FILTERS)),
        "candidates": draw(st.lists(idx, min_size=0, max_size=60)),
        "pins": draw(st.lists(st.tuples(idx, st.integers(1, 10)), max_size=4)),
        "k": draw(st.integers(1, 25)),
        "explore": draw(st.floats(0, 1)),
        "new_share": draw(st.floats(0, 1)),
        "lam": draw(st.floats(0, 1)),
        "cap": draw(st.one_of(st.none(), st.integers(1, 4))),
        "seed": draw(st.integers(0, 2**31)),
    }


def _table(stock: list[bool]) -> ItemTable:
    rng = np.random.default_rng(7)
    ids = [f"i{j}" for j in range(N)]
    frame = pl.DataFrame(
        {
            "item_id": ids,
            "brand": [str(b) for b in rng.choice(list("abcd"), N)],
            "price": rng.uniform(1000, 40000, N),
            "in_stock": stock,
            "created_at": [datetime.fromtimestamp(int(t), UTC) for t in rng.integers(0, 10**8, N)],
            "fuel_type": [str(f) for f in rng.choice(["electric", "petrol", "diesel"], N)],
        }
    )
    return ItemTable.build(frame, Vocabulary(ids))


@settings(max_examples=150, deadline=None)
@given(scenario())
def test_no_list_ever_contains_a_forbidden_item(s: dict) -> None:  # type: ignore[type-arg]
    table = _table(s["stock"])
    cfg = RerankConfig.model_validate(
        {
            "pins": {"pins": [{"item_id": f"i{i}", "position": p} for i, p in s["pins"]]},
            "exploration": {"share": s["explore"], "max_impressions": 50},
            "new_items": {"share": s["new_share"], "days": 300},
            "diversity": {"lambda": s["lam"]},
            "caps": {"max_per": {} if s["cap"] is None else {"brand": s["cap"]}},
            "scores": {"boost": [{"filter": "brand:a", "factor": 3}]},
        }
    )
    rng = np.random.default_rng(s["seed"])
    cands = np.asarray(s["candidates"], np.int64)
    items = ItemList.of(cands, rng.random(len(cands)), Source.ANN)
    filters = parse_filters(s["filters"])
    ctx = RerankContext(
        k=s["k"],
        table=table,
        allowed=filters.mask(table) if filters else None,
        purchased=np.asarray(s["purchased"], np.int64),
        not_interested=np.asarray(s["not_interested"], np.int64),
        exposure=Exposure(rng.integers(0, 100, N).astype(float), np.zeros(N)),
        rng=rng,
    )
    out = rerank(items, ctx, build_stages(cfg, table))
    got = out.index
    assert len(got) <= s["k"]
    assert len(set(got.tolist())) == len(got)
    assert table.in_stock[got].all()
    assert not np.isin(got, s["purchased"]).any()
    assert not np.isin(got, s["not_interested"]).any()
    if filters:
        assert filters.mask(table)[got].all()
