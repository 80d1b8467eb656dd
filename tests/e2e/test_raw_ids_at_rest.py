"""Raw user ids never rest: not in any workspace file, not in the server's log.

The demo runs with a shadow, a canary and an A/B experiment; users are served (and exposed),
give feedback, see the featured listing, send events and hit the error paths; the
experiment's results and breakdown are read; one user is forgotten (``DELETE
/v1/users/{id}``, twice). Then every file of the workspace (text or binary) and the log are
searched for the raw ids used.
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


def _experiment(client: TestClient, version: str) -> None:
    """An experiment on every user: its own model in one arm, the featured policy in both."""
    variants = [
        {"name": "control", "weight": 1, "serving": {"featured_policy": "random"}},
        {"name": "b", "weight": 1,
         "serving": {"model_version": version, "featured_policy": "personalized"}},
    ]  # fmt: skip
    body = {"variants": variants, "metrics": {"primary": "ctr"}}
    answer = client.put("/v1/experiments/rawab", json=body)
    assert answer.status_code == 200, answer.text


def _read_experiment(client: TestClient) -> None:
    answer = client.get("/v1/experiments/rawab/results")
    assert answer.status_code in (200, 422), answer.text  # 422: too few users to analyze
    for by in ("segment", "device"):
        client.get("/v1/experiments/rawab/breakdown", params={"by": by})


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
    version = registry_of(demo).versions()[0]
    with TestClient(create_app(demo), client=LOOPBACK) as client:
        _experiment(client, version)
        _use_the_api(client, item)
        engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
        assert engine.shadow is not None
        _settle(engine)
        assert engine.shadow.done >= 3  # the shadow did log rows
        _read_experiment(client)
        exposures = demo.store.events(types=["exposure"])
        assert exposures.height >= 3  # the experiment did expose users
        for _ in range(2):  # the forget path, and its retry
            assert client.delete(f"/v1/users/{BOB}").status_code == 200
    files = [p for p in demo.root.rglob("*") if p.is_file()] + [logged]
    assert any(p.name.startswith("shadow-") for p in files)
    leaks = [f"{p}: {raw}" for p in files for raw in RAW_IDS if raw.encode() in p.read_bytes()]
    assert leaks == []
