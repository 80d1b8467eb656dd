"""Forgetting a user: after `DELETE /v1/users/{id}` no table, file or model of the workspace
holds the user's raw id, pseudonym or anonymous ids, while another user's traces remain;
the receipt says what went where, the audit log names the user by a digest only, and the
models keep serving everyone else."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient
from tests.e2e.conftest import LOOPBACK
from tests.e2e.traces import in_files, in_tables
from typer.testing import CliRunner

from tastemaker.cli.app import app as cli
from tastemaker.datasets.marketplace import generate_marketplace, write_marketplace
from tastemaker.engine.runtime import Engine
from tastemaker.privacy.forget import subject_digest
from tastemaker.serving import create_app
from tastemaker.training.recommender import registry_of, train_version
from tastemaker.workspace import Workspace


@pytest.fixture
def lived_in(tmp_path: Path) -> Iterator[tuple[Workspace, str, str, str]]:
    """A workspace with data files, models (active, canary, shadow), an experiment, served
    traffic, a dead letter: and a user with a linked anonymous id, plus a bystander."""
    ws = Workspace.init(tmp_path / "ws")
    m = generate_marketplace(users=120, items=200, days=7, seed=5)
    write_marketplace(m, ws.root / "data", "parquet")
    ws.ingestor.ingest_items(m.items, "test")
    ws.ingestor.ingest_users(m.users, "test")
    ws.ingestor.ingest_events(m.events, "test")
    links = m.events.filter(pl.col("type") == "identify").select("user_id", "anonymous_id")
    busy = m.events["user_id"].drop_nulls().value_counts(sort=True)  # users a model knows
    linked = links.join(busy, on="user_id").sort("count", descending=True)
    user, anon, _ = linked.row(0)
    bystander = str(linked["user_id"][1])
    reg = registry_of(ws)
    reg.promote(train_version(ws, "hybrid", {}, holdout=0).version)
    reg.set_canary(train_version(ws, "als", {}, holdout=0).version, 50)
    reg.set_shadow(train_version(ws, "itemknn", {}, holdout=0).version)
    (ws.root / "experiments").mkdir(exist_ok=True)
    (ws.root / "experiments" / "feat.yaml").write_text(
        "key: feat\nmetrics: {primary: conversion}\nvariants:\n"
        "- {name: control, weight: 1, serving: {featured_policy: random}}\n"
        "- {name: treatment, weight: 1, serving: {featured_policy: personalized}}\n"
    )
    yield ws, str(user), str(anon), bystander
    ws.close()


def _serve(client: TestClient, users: list[str]) -> None:
    for user in users:
        assert client.get(f"/v1/recommendations/{user}", params={"k": 5}).status_code == 200
        assert client.get("/v1/featured", params={"user_id": user}).status_code == 200
    bad = {"event_id": "dl-1", "user_id": users[0], "type": "no-such-type",
           "timestamp": "2026-01-01T00:00:00Z"}  # fmt: skip
    client.post("/v1/events", json=[bad])  # a dead letter holding the user
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    engine.sink.flush()
    if engine.shadow is not None:
        engine.shadow.join()


def test_a_forgotten_user_leaves_no_trace(lived_in: tuple[Workspace, str, str, str]) -> None:
    ws, user, anon, bystander = lived_in
    key, anon_key = ws.pseudonymizer.one(user), ws.pseudonymizer.one(anon)
    with TestClient(create_app(ws), client=LOOPBACK) as client:
        _serve(client, [user, bystander])
        split = CliRunner().invoke(cli, ["evaluate", "-w", str(ws.root), "--models", "popularity",
                                         "--export-split", str(ws.root / "splits")])  # fmt: skip
        assert split.exit_code == 0, split.output
        needles = {user, key, anon, anon_key}
        assert in_tables(ws.store, needles) and in_files(ws.root, {key})  # the scan can fail

        answer = client.delete(f"/v1/users/{user}")
        assert answer.status_code == 200, answer.text
        receipt = answer.json()
        left = in_tables(ws.store, needles) + in_files(ws.root, needles)
        after = client.get(f"/v1/recommendations/{user}", params={"k": 5})
        other = client.get(f"/v1/recommendations/{bystander}", params={"k": 5})
    assert receipt["subject"] == subject_digest(key) and receipt["anonymous_ids"] == 1
    deleted = receipt["deleted"]
    assert deleted["store:events"] > 0 and deleted["store:identity_links"] == 1
    assert deleted["store:profiles"] >= 1 and deleted["store:dead_letters"] >= 1
    assert any(p.startswith("model:") for p in deleted)
    assert any(p.startswith("file:data/") for p in deleted)
    assert any(p.startswith("file:reports/shadow-") for p in deleted)
    assert any(p.startswith("file:splits/") for p in deleted)
    assert left == [], "\n".join(left)
    assert in_tables(ws.store, {ws.pseudonymizer.one(bystander)})  # others stay
    assert in_files(ws.root, {ws.pseudonymizer.one(bystander)})
    assert after.status_code == 200 and other.status_code == 200  # served like a stranger
    assert other.json()["items"]
    audit = [e for e in CliRunner().invoke(cli, ["audit", "-w", str(ws.root), "--json"]).output
             .splitlines() if "forget" in e or "DELETE" in e]  # fmt: skip
    assert audit and all(user not in line and key not in line for line in audit)


def test_forgetting_twice_and_from_the_command_line(
    lived_in: tuple[Workspace, str, str, str],
) -> None:
    ws, user, _, _ = lived_in
    first = CliRunner().invoke(cli, ["forget", user, "-w", str(ws.root), "--json"])
    assert first.exit_code == 0, first.output
    assert '"store:events"' in first.output
    again = CliRunner().invoke(cli, ["forget", user, "-w", str(ws.root)])
    assert again.exit_code == 0 and "nothing was left" in " ".join(again.output.split())
    later = train_version(ws, "itemknn", {}, holdout=0)  # later training cannot see them
    assert in_files(ws.settings.path(ws.settings.models_dir) / later.version,
                    {ws.pseudonymizer.one(user)}) == []  # fmt: skip
