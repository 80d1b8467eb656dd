"""Raw user ids never rest: not in any workspace file, not in the server's log.

The demo runs with a shadow and a canary; users are served, give feedback, see the
featured listing, send events and hit the error paths. Then every file of the workspace
(text or binary) and the log are searched for the raw ids used.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient
from tests.e2e.conftest import LOOPBACK

from tastemaker.datasets.marketplace import generate_marketplace
from tastemaker.engine.runtime import Engine
from tastemaker.serving import create_app
from tastemaker.training.recommender import registry_of, train_version
from tastemaker.workspace import Workspace

ALICE, BOB, NEWCOMER, VISITOR = "raw-alice-7f3", "raw-bob-9c2", "raw-new-d81", "raw-anon-c41"
RAW_IDS = (ALICE, BOB, NEWCOMER, VISITOR)


def _rename(frame: pl.DataFrame, names: dict[str, str]) -> pl.DataFrame:
    return frame.with_columns(pl.col("user_id").replace(names))


@pytest.fixture
def logged(tmp_path: Path) -> Iterator[Path]:
    """Every log record of the process, at DEBUG, written to a file (the server's log)."""
    path = tmp_path / "server.log"
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    handler.addFilter(lambda record: not record.name.startswith("httpx"))  # the client's log
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield path
    root.removeHandler(handler)
    root.setLevel(level)
    handler.close()


@pytest.fixture
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """A workspace whose two busiest users are ALICE and BOB, with a canary and a shadow."""
    ws = Workspace.init(tmp_path_factory.mktemp("rawids") / "ws")
    m = generate_marketplace(users=120, items=200, days=7, seed=5)
    busiest = m.events["user_id"].drop_nulls().value_counts(sort=True)["user_id"].head(2)
    names = dict(zip(busiest.to_list(), (ALICE, BOB), strict=True))
    ws.ingestor.ingest_items(m.items, "test")
    ws.ingestor.ingest_users(_rename(m.users, names), "test")
    ws.ingestor.ingest_events(_rename(m.events, names), "test")
    reg = registry_of(ws)
    reg.promote(train_version(ws, "itemknn", {}, holdout=0).version)
    reg.set_canary(train_version(ws, "itemknn", {}, holdout=0).version, 50)
    reg.set_shadow(train_version(ws, "itemknn", {}, holdout=0).version)
    yield ws
    ws.close()


def _use_the_api(client: TestClient, item: str) -> None:
    """Every path a raw id travels: lists, feedback, featured, events, errors."""
    for user in (ALICE, BOB, NEWCOMER):
        assert client.get(f"/v1/recommendations/{user}", params={"k": 5}).status_code == 200
        assert client.get(f"/v1/users/{user}/profile").status_code in (200, 404)
        assert client.get(f"/v1/users/{user}/segments").status_code in (200, 404)
        client.get(f"/v1/propensity/{user}")  # no propensity model: an error path
    feedback = {"user_id": ALICE, "item_id": item, "kind": "not_interested"}
    assert client.post("/v1/feedback", json=feedback).status_code == 200
    assert client.get("/v1/featured", params={"user_id": BOB}).status_code == 200
    assert client.get("/v1/featured", params={"anonymous_id": VISITOR}).status_code == 200
    event = {"event_id": "e-raw-1", "user_id": NEWCOMER, "item_id": item, "type": "view",
             "timestamp": "2026-01-01T00:00:00Z"}  # fmt: skip
    assert client.post("/v1/events", json=[event]).status_code == 200
    bad_event = {**event, "event_id": "e-raw-2", "type": "no-such-type"}
    client.post("/v1/events", json=[bad_event])
    unknown = {**feedback, "item_id": "no-such-item"}
    assert client.post("/v1/feedback", json=unknown).status_code == 404
    assert client.post("/v1/feedback", json={"user_id": BOB}).status_code == 422
    assert client.post("/v1/feedback", content=f'{{"user_id": "{BOB}"'.encode()).status_code == 422
    bad_filter = client.get(f"/v1/recommendations/{ALICE}", params={"filters": "price<<"})
    assert bad_filter.status_code == 422
    bad = client.get("/v1/featured", params={"user_id": BOB, "filters": "nope:1"})
    assert bad.status_code == 422


def _settle(engine: Engine) -> None:
    """Store the buffered platform events and wait for the shadow scorings."""
    engine.sink.flush()
    if engine.shadow is not None:
        engine.shadow.join()


def test_no_raw_user_id_is_stored_or_logged(demo: Workspace, logged: Path) -> None:
    item = str(demo.store.items()["item_id"][0])
    with TestClient(create_app(demo), client=LOOPBACK) as client:
        _use_the_api(client, item)
        engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
        assert engine.shadow is not None
        _settle(engine)
        assert engine.shadow.done >= 3  # the shadow did log rows
    files = [p for p in demo.root.rglob("*") if p.is_file()] + [logged]
    assert any(p.name.startswith("shadow-") for p in files)
    leaks = [f"{p}: {raw}" for p in files for raw in RAW_IDS if raw.encode() in p.read_bytes()]
    assert leaks == []
