"""Editing `recommendations.yaml` under a running API changes the next answer, no restart.

A shop's operator pins an item, lets out-of-stock items be featured, then saves two broken
versions of the file: the API keeps serving the last good settings and says why in
`/readyz` and `/metrics`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient
from tests.e2e.conftest import LOOPBACK

from tastemaker.datasets.marketplace import generate_marketplace
from tastemaker.engine.reload import SETTLE_SECONDS
from tastemaker.serving import create_app
from tastemaker.training.recommender import registry_of, train_version
from tastemaker.workspace import Workspace

# every request looks at the file (the default is at most once a second)
BASE = "seed: 3\nreload_check_seconds: 0\n"


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[tuple[Workspace, TestClient, str]]:
    """A workspace with a promoted model whose tyres are all out of stock; a client; a user."""
    ws = Workspace.init(tmp_path / "ws")
    (ws.root / "recommendations.yaml").write_text(BASE)
    m = generate_marketplace(users=80, items=120, days=6, seed=4)
    items = m.items.with_columns(
        pl.when(pl.col("category") == "tyres")
        .then(False)
        .otherwise(pl.col("in_stock"))
        .alias("in_stock")
    )
    ws.ingestor.ingest_items(items, "test")
    ws.ingestor.ingest_users(m.users, "test")
    ws.ingestor.ingest_events(m.events, "test")
    registry_of(ws).promote(train_version(ws, "popularity", holdout=0).version)
    user = m.events["user_id"].drop_nulls().value_counts(sort=True)["user_id"][0]
    with TestClient(create_app(ws), client=LOOPBACK) as client:
        top(client, user)  # the engine has read the file
        yield ws, client, user
    ws.close()


def edit(ws: Workspace, text: str) -> None:
    """Save the file as an editor does, then let it settle (a half-written file is not read)."""
    (ws.root / "recommendations.yaml").write_text(text)
    time.sleep(3 * SETTLE_SECONDS)


def top(client: TestClient, user: str) -> list[str]:
    answer = client.get(f"/v1/recommendations/{user}", params={"k": 5})
    assert answer.status_code == 200, answer.text
    return [i["item_id"] for i in answer.json()["items"]]


def not_shown(ws: Workspace, client: TestClient, user: str) -> str:
    """An item in stock that the user's list does not show."""
    shown = top(client, user)
    in_stock = ws.store.items().filter(pl.col("in_stock"))["item_id"].to_list()
    return next(i for i in in_stock if i not in shown)


def config_state(client: TestClient) -> dict[str, object]:
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True  # never taken down
    state: dict[str, object] = ready.json()["config"]
    return state


def test_a_pin_added_to_the_file_shows_on_the_next_request(
    shop: tuple[Workspace, TestClient, str],
) -> None:
    ws, client, user = shop
    pinned = not_shown(ws, client, user)
    edit(ws, BASE + f"rerank:\n  pins:\n    pins: [{{item_id: {pinned}, position: 1}}]\n")
    assert top(client, user)[0] == pinned
    state = config_state(client)
    assert state["valid"] is True and state["reloads"] == 1 and state["error"] is None

    edit(ws, BASE)  # the pin removed
    assert pinned not in top(client, user)


def test_the_featured_listing_follows_the_hard_filters_of_the_file(
    shop: tuple[Workspace, TestClient, str],
) -> None:
    ws, client, user = shop
    tyres = client.get("/v1/featured", params={"user_id": user, "filters": "category:tyres"})
    assert tyres.json()["item"] is None  # every tyre is out of stock

    edit(ws, BASE + "rerank:\n  hard: {out_of_stock: false}\n")
    tyres = client.get("/v1/featured", params={"user_id": user, "filters": "category:tyres"})
    assert tyres.json()["item"]["category"] == "tyres"


@pytest.mark.parametrize(
    ("broken", "names"),
    [
        ("rerank:\n  diversity: {lambda: 7}\n", ["rerank.diversity.lambda", "less than or equal"]),
        ("rerank:\n  pins: {pins: [{item_id: x\n", ["line 5", "not valid YAML"]),
        (
            "rerank:\n  scores:\n    bury: [{filter: 'no_such_field:x', factor: 0.5}]\n",
            ["no_such_field"],
        ),
    ],
)
def test_a_broken_edit_keeps_the_last_good_settings_and_says_why(
    shop: tuple[Workspace, TestClient, str], broken: str, names: list[str]
) -> None:
    ws, client, user = shop
    pinned = not_shown(ws, client, user)
    good = BASE + f"rerank:\n  pins:\n    pins: [{{item_id: {pinned}, position: 1}}]\n"
    edit(ws, good)
    assert top(client, user)[0] == pinned

    edit(ws, BASE + broken)
    assert top(client, user)[0] == pinned  # the old settings still serve
    state = config_state(client)
    assert state["valid"] is False and state["reloads"] == 1
    error = str(state["error"])
    assert str(ws.root / "recommendations.yaml") in error
    assert all(name in error for name in names), error
    assert "tastemaker_config_valid 0.0" in client.get("/metrics").text

    edit(ws, BASE)  # fixed: applied, error gone
    assert pinned not in top(client, user)
    state = config_state(client)
    assert state["valid"] is True and state["reloads"] == 2
    assert "tastemaker_config_valid 1.0" in client.get("/metrics").text
