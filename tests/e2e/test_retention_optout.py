"""Retention and opt-out as a user runs them: `tastemaker retention` (dry run, receipt)
deletes old events and keeps newer ones with profiles equal to a rebuild; a user opted out
over `PUT /v1/users/{id}/consent` gets exactly the stranger's lists and no profile until
they opt back in and act again."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from fastapi.testclient import TestClient
from tests.e2e.conftest import LOOPBACK
from typer.testing import CliRunner

from tastemaker.cli.app import app as cli
from tastemaker.config import load_settings, write_settings
from tastemaker.datasets.marketplace import generate_marketplace
from tastemaker.engine.runtime import Engine
from tastemaker.privacy.consent import set_consent
from tastemaker.profiles.model import dumps_state
from tastemaker.rerank.filters import Filters
from tastemaker.serving import create_app
from tastemaker.training.recommender import registry_of, train_version
from tastemaker.workspace import Workspace

STRANGER = "never-seen-user-9c1"


@pytest.fixture
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, str, str]]:
    """A marketplace workspace with a trained model; a busy user and a bystander."""
    root = tmp_path_factory.mktemp("shop") / "ws"
    Workspace.init(root).close()
    settings = load_settings(root)
    settings.privacy.consent_refresh_seconds = 0.2
    write_settings(settings)
    # no exploration: lists do not move with the impressions the test itself logs
    (root / "recommendations.yaml").write_text("seed: 7\nrerank:\n  exploration: {share: 0.0}\n")
    ws = Workspace.open(root)
    m = generate_marketplace(users=120, items=200, days=7, seed=5)
    ws.ingestor.ingest_items(m.items, "test")
    ws.ingestor.ingest_users(m.users.with_columns(pl.lit(True).alias("consent")), "test")
    ws.ingestor.ingest_events(m.events, "test")
    ws.profiles.flush()
    busy = m.events["user_id"].drop_nulls().value_counts(sort=True)["user_id"]
    registry_of(ws).promote(train_version(ws, "hybrid", {}, holdout=0).version)
    yield ws, str(busy[0]), str(busy[1])
    ws.close()


def _lists(client: TestClient, user: str) -> tuple[list[str], bool]:
    answer = client.get(f"/v1/recommendations/{user}", params={"k": 8})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return [i["item_id"] for i in body["items"]], body["cold_start"]


def test_an_opted_out_user_is_served_as_a_stranger_until_they_opt_back_in(
    shop: tuple[Workspace, str, str],
) -> None:
    ws, user, bystander = shop
    with TestClient(create_app(ws), client=LOOPBACK) as client:
        stranger, cold = _lists(client, STRANGER)
        mine, mine_cold = _lists(client, user)
        assert cold and not mine_cold and mine != stranger  # personalized (and cached) first
        assert client.get(f"/v1/users/{user}/profile").status_code == 200

        answer = client.put(f"/v1/users/{user}/consent", json={"personalization": False})
        assert answer.status_code == 200, answer.text
        assert answer.json()["deleted"]["store:profiles"] == 1
        assert answer.json()["personalization"] is False
        assert client.get(f"/v1/users/{user}/consent").json() == {"personalization": False}
        assert _lists(client, user) == (stranger, True)  # the cached list went at once
        assert client.get(f"/v1/users/{user}/profile").status_code == 404
        featured = client.get("/v1/featured", params={"user_id": user}).json()
        assert not featured["personalized"] and featured["segments"] == {}
        item = mine[0]
        now = datetime.now(UTC).isoformat()
        sent = client.post("/v1/events", json=[{"event_id": "oo-1", "user_id": user,
                           "type": "purchase", "item_id": item, "timestamp": now}])  # fmt: skip
        assert sent.status_code == 200, sent.text
        ws.profiles.flush()
        assert client.get(f"/v1/users/{user}/profile").status_code == 404
        assert _lists(client, user) == (_lists(client, STRANGER + "-2")[0], True)
        assert not _lists(client, bystander)[1]  # others stay personalized

        back = client.put(f"/v1/users/{user}/consent", json={"personalization": True})
        assert back.status_code == 200 and back.json()["deleted"] == {}
        client.post("/v1/events", json=[{"event_id": "oo-2", "user_id": user, "type": "view",
                                         "item_id": item, "timestamp": now}])  # fmt: skip
        ws.profiles.flush()
        profile = client.get(f"/v1/users/{user}/profile")
        assert profile.status_code == 200, profile.text
        assert [e["item_id"] for e in profile.json()["timeline"]] == [item]
        assert not _lists(client, user)[1]  # personalized again
        bad = client.put(f"/v1/users/{user}/consent", json={"personalization": "maybe"})
        assert bad.status_code == 422


def test_retention_from_the_command_line(shop: tuple[Workspace, str, str]) -> None:
    ws, user, _ = shop
    events = ws.store.events()
    first, last = events["timestamp"].min(), events["timestamp"].max()
    assert isinstance(first, datetime) and isinstance(last, datetime)
    days = (datetime.now(UTC) - (first + (last - first) / 2)).total_seconds() / 86_400
    settings = load_settings(ws.root)
    settings.privacy.retention_days = days  # the cut falls in the middle of the data
    write_settings(settings)
    cut = datetime.now(UTC) - timedelta(days=days)
    old = events.filter(pl.col("timestamp") < cut).height
    assert 0 < old < events.height

    dry = CliRunner().invoke(cli, ["retention", "-w", str(ws.root), "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["deleted"]["store:events"] == old
    assert ws.store.count_events() == events.height
    done = CliRunner().invoke(cli, ["retention", "-w", str(ws.root)])
    assert done.exit_code == 0, done.output
    assert "profiles rebuilt" in done.output and f"{old:,}" in done.output

    left = Workspace.open(ws.root)
    try:
        kept = left.store.events()
        assert kept.height == events.height - old
        assert kept["timestamp"].min() >= cut - timedelta(seconds=5)  # type: ignore[operator]
        states, _ = left.profiles.simulate()
        stored = {k: r.state for k, r in left.store.load_profiles().items()}
        assert stored == {k: dumps_state(s) for k, s in states.items()}
    finally:
        left.close()
    audit = CliRunner().invoke(cli, ["audit", "-w", str(ws.root), "--json"])
    assert "privacy.retention" in audit.output and user not in audit.output


def test_another_server_process_serves_the_opt_out_within_its_refresh(
    shop: tuple[Workspace, str, str],
) -> None:
    ws, user, _ = shop
    other = Workspace.open(ws.root)  # the engine of a second server process
    engine = Engine(other, watch=False)
    try:
        before = engine.recommend(user, 8, Filters(), None)
        assert not before.cold_start  # personalized, and now cached in that process
        set_consent(ws, user, False)  # through this process (the API or the CLI)
        deadline = time.monotonic() + 30
        served = engine.recommend(user, 8, Filters(), None)
        while not served.cold_start and time.monotonic() < deadline:
            time.sleep(0.05)
            served = engine.recommend(user, 8, Filters(), None)
        assert served.cold_start and served.item_ids != before.item_ids
        assert other.profiles.get(other.pseudonymizer.one(user)) is None
    finally:
        engine.close()
        other.close()
