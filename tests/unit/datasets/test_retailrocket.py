"""RetailRocket loader on a small fixture in the published events.csv format."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tastemaker.datasets.retailrocket import load_retailrocket

EVENTS = """timestamp,visitorid,event,itemid,transactionid
1433221332117,257597,view,355908,
1433224214164,992329,view,248676,
1433221999827,257597,addtocart,355908,
1433222276276,257597,transaction,355908,4000
1433300000000,257597,view,111,
"""
PROPS = """timestamp,itemid,property,value
1435460400000,355908,categoryid,1338
1441508400000,355908,categoryid,1339
1439089200000,355908,available,1
"""


def test_events_types_sessions_and_items(tmp_path: Path) -> None:
    (tmp_path / "events.csv").write_text(EVENTS)
    (tmp_path / "item_properties_part1.csv").write_text(PROPS)
    data = load_retailrocket(tmp_path)
    ev = data.events.sort("timestamp")
    assert ev["type"].to_list() == ["view", "add_to_cart", "purchase", "view", "view"]
    sessions = ev.filter(pl.col("user_id") == "257597")["session_id"].to_list()
    assert len(set(sessions[:3])) == 1 and sessions[3] != sessions[0]  # 21 h gap: new session
    assert "4000" in ev.filter(pl.col("type") == "purchase")["properties"][0]
    item = data.items.filter(pl.col("item_id") == "355908").row(0, named=True)
    assert item["category"] == "1339" and item["in_stock"] is True
    assert data.users.height == 2
