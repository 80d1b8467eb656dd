"""`tastemaker monitor` on a small served workspace: quiet on unchanged traffic, drift after a
planted catalog shift (alerts written and listed), online metrics and the HTML report."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from threadpoolctl import threadpool_limits

from tastemaker.datasets.marketplace import generate_marketplace
from tastemaker.engine.runtime import Engine
from tastemaker.rerank.filters import Filters
from tastemaker.training.recommender import registry_of, train_version
from tastemaker.workspace import Workspace


def _serve(ws: Workspace, users: list[str]) -> list[tuple[str, str]]:
    """Serve every user once (impressions logged); return (user, first item) pairs."""
    engine = Engine(ws, watch=False)
    with threadpool_limits(1):
        firsts = [(u, engine.recommend(u, 10, Filters(), None).item_ids[0]) for u in users]
    engine.close()
    return firsts


@pytest.mark.slow
def test_monitor_finds_a_planted_shift_and_writes_alerts(
    tmp_path: Path, tm: Callable[..., Any]
) -> None:
    ws = Workspace.init(tmp_path / "shop")
    m = generate_marketplace(users=300, items=300, days=10, seed=4)
    ws.ingestor.ingest_items(m.items, "test")
    ws.ingestor.ingest_users(m.users, "test")
    ws.ingestor.ingest_events(m.events, "test")
    version = train_version(ws, "itemknn", {}, holdout=0).version
    registry_of(ws).promote(version)
    assert (registry_of(ws).path(version) / "reference.json").is_file()
    known = m.events.filter(pl.col("user_id").is_not_null())["user_id"].unique().sort()
    firsts = _serve(ws, [str(u) for u in known.to_list()])
    now = datetime.now(UTC)  # a click on the first item of a third of the lists
    clicks = pl.DataFrame({
        "event_id": [f"c{i}" for i in range(0, len(firsts), 3)],
        "user_id": [firsts[i][0] for i in range(0, len(firsts), 3)],
        "type": "click", "item_id": [firsts[i][1] for i in range(0, len(firsts), 3)],
        "timestamp": now,
    })  # fmt: skip
    assert ws.ingestor.ingest_events(clicks, "test").accepted == clicks.height
    ws.close()

    quiet = tm("monitor", "-w", "shop", "--json", "--no-alerts", cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    result = json.loads(quiet.stdout)
    assert result["drift"]["version"] == version and result["drift"]["enough"]
    assert not result["drift"]["drifted"], result["drift"]["features"]
    assert result["alerts"] == []

    online = json.loads(tm("monitor", "online", "-w", "shop", "--json", cwd=tmp_path).stdout)
    mine = [r for r in online if r["version"] == version]
    assert len(mine) == 1 and mine[0]["impressions"] == 10 * len(firsts)
    assert mine[0]["clicks"] == clicks.height
    assert mine[0]["ctr"] == pytest.approx(clicks.height / (10 * len(firsts)))

    ws = Workspace.open(tmp_path / "shop")  # the catalog's prices quadruple; traffic goes on
    items = ws.store.items().with_columns(pl.col("price") * 4)
    ws.ingestor.ingest_items(items.select("item_id", "price", "category", "brand", "title"), "t")
    _serve(ws, [str(u) for u in known.to_list()])
    ws.close()

    report = tmp_path / "monitoring.html"
    found = tm("monitor", "-w", "shop", "--report", str(report), cwd=tmp_path)
    assert found.returncode == 1, found.stdout + found.stderr
    assert "DRIFT" in found.stdout and "price" in found.stdout
    html = report.read_text()
    assert "data:image/png;base64," in html and "price" in html
    listed = json.loads(tm("monitor", "alerts", "-w", "shop", "--json", cwd=tmp_path).stdout)
    assert "price" in {a["subject"] for a in listed if a["kind"] == "drift"}
    assert all(a["version"] == version for a in listed)
    assert (tmp_path / "shop" / "reports" / "monitoring.json").is_file()
