"""A/B experiments end to end: definitions served through the engine over the API.

Users are split by weights, keep their variant across app instances, get the variant's
model, re-ranking and featured policy, are exposed once per experiment in the event log,
and every impression names the variant. ``models canary`` is such an experiment.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tastemaker.cli.app import app as cli
from tastemaker.datasets.marketplace import generate_marketplace
from tastemaker.engine.runtime import Engine
from tastemaker.experiments.assignment import pick
from tastemaker.experiments.definition import parse_experiment
from tastemaker.experiments.store import read_exposures
from tastemaker.serving import create_app
from tastemaker.training.recommender import registry_of, train_version
from tastemaker.workspace import Workspace

USERS: list[str] = []
KEY = b"tastemaker-test-experiments"  # see the fixture


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, str]]:
    """A workspace with an active version and a second, unpromoted one (its name).

    A fixed pseudonymization key: the assignment hashes the pseudonyms, so with a fresh key
    the shares below (400 and 200 users) were a new draw in every run, each bound about 4
    standard errors wide (together about 1 failing run in 5,000). With this key: 0.7575 of
    0.75, 0.315 of 0.3, 0.505 of 0.5 and 0.88 of 0.9 (each within 0.7 standard errors).
    """
    ws = Workspace.init(tmp_path_factory.mktemp("ab") / "ws", allow_anonymous="always", key=KEY)
    (ws.root / "recommendations.yaml").write_text("seed: 3\nreload_check_seconds: 0\n")
    m = generate_marketplace(users=150, items=200, days=7, seed=4)
    ws.ingestor.ingest_items(m.items, "test")
    ws.ingestor.ingest_users(m.users, "test")
    ws.ingestor.ingest_events(m.events, "test")
    USERS[:] = m.users["user_id"].to_list() + [f"visitor-{i}" for i in range(250)]
    reg = registry_of(ws)
    reg.promote(train_version(ws, "itemknn", {}, holdout=0).version)
    second = train_version(ws, "popularity", {}, holdout=0).version
    yield ws, second
    ws.close()


def put(client: TestClient, key: str, variants: list[dict[str, Any]], **extra: Any) -> None:
    body = {"variants": variants, "metrics": {"primary": "ctr"}, **extra}
    answer = client.put(f"/v1/experiments/{key}", json=body)
    assert answer.status_code == 200, answer.text


def stop(client: TestClient, key: str) -> None:
    assert client.post(f"/v1/experiments/{key}/stop").json()["status"] == "stopped"


def recs(client: TestClient, user: str) -> dict[str, Any]:
    answer = client.get(f"/v1/recommendations/{user}", params={"k": 5})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def engine_of(client: TestClient) -> Engine:
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    return engine


def test_users_split_by_weights_and_keep_their_variant_across_app_instances(
    shop: tuple[Workspace, str],
) -> None:
    ws, _ = shop
    with TestClient(create_app(ws)) as one, TestClient(create_app(ws)) as two:
        put(one, "split", [{"name": "control", "weight": 1}, {"name": "b", "weight": 3}])
        first = {u: recs(one, u)["experiments"]["split"] for u in USERS}
        again = {u: recs(two, u)["experiments"]["split"] for u in USERS[:100]}
        stop(one, "split")
        assert "experiments" not in recs(one, USERS[0])  # stopped: served as usual
    share = Counter(first.values())["b"] / len(first)
    print(json.dumps({"split_b_share": share, "expected": 0.75, "users": len(first)}))
    assert abs(share - 0.75) < 0.085  # 400 users: 4 standard errors (0.7575 with KEY)
    assert again == {u: first[u] for u in USERS[:100]}


def test_the_variant_decides_the_model_the_rerank_and_the_featured_policy(
    shop: tuple[Workspace, str],
) -> None:
    ws, second = shop
    pinned = str(ws.store.items()["item_id"][7])
    variants = [
        {"name": "control", "weight": 1},
        {"name": "model", "weight": 1, "serving": {"model_version": second}},
        {"name": "pinned", "weight": 1,
         "serving": {"rerank": {"pins": {"pins": [{"item_id": pinned, "position": 1}]}}}},
        {"name": "nofeature", "weight": 1, "serving": {"featured_policy": "none"}},
        {"name": "random", "weight": 1, "serving": {"featured_policy": "random"}},
    ]  # fmt: skip
    with TestClient(create_app(ws)) as client:
        put(client, "serving", variants)
        seen: dict[str, set[tuple[str, ...]]] = {}
        for user in USERS[:120]:
            body = recs(client, user)
            variant = body["experiments"]["serving"]
            first_item = body["items"][0]["item_id"] if body["items"] else ""
            featured = client.get("/v1/featured", params={"user_id": user}).json()
            assert featured["experiments"] == {"serving": variant}
            facts = (body["model_version"], body["variant"], str(first_item == pinned),
                     featured["rule"].split(":")[0])  # fmt: skip
            seen.setdefault(variant, set()).add(facts)
        stop(client, "serving")
    assert {f[0] for f in seen["model"]} == {second}
    assert {f[1] for f in seen["model"]} == {"canary"}
    assert {f[0] for v in ("control", "pinned") for f in seen[v]} == {"v0001"}
    assert {f[2] for f in seen["pinned"]} == {"True"}
    assert "True" not in {f[2] for f in seen["control"]}
    assert {f[3] for f in seen["nofeature"]} == {"experiment"}
    assert {f[3] for f in seen["random"]} == {"fallback"}


def test_one_exposure_per_user_and_experiment_and_impressions_name_the_variant(
    shop: tuple[Workspace, str],
) -> None:
    ws, _ = shop
    users = USERS[:30]
    with TestClient(create_app(ws)) as client, TestClient(create_app(ws)) as other:
        put(client, "exposed", [{"name": "control", "weight": 1}, {"name": "b", "weight": 1}])
        served = {}
        for _ in range(3):
            for user in users:
                served[user] = recs(client, user)["experiments"]["exposed"]
                assert recs(other, user)["experiments"]["exposed"] == served[user]
        engine_of(client).sink.flush()
        engine_of(other).sink.flush()
        stop(client, "exposed")
    keys = dict(zip(users, ws.pseudonymizer.many(users), strict=True)) if hasattr(
        ws.pseudonymizer, "many") else {u: ws.pseudonymizer.one(u) for u in users}  # fmt: skip
    events = ws.store.events(types=["exposure"], user_ids=list(keys.values()))
    props = [json.loads(p) for p in events["properties"]]
    mine = [(u, p["variant"]) for u, p in zip(events["user_id"], props, strict=True)
            if p["experiment"] == "exposed"]  # fmt: skip
    assert sorted(mine) == sorted((keys[u], served[u]) for u in users)  # once each, right arm
    recorded = read_exposures(ws.store, "exposed")  # what an analysis reads
    assert sorted(recorded.select("user_id", "variant").iter_rows()) == sorted(mine)
    impressions = ws.store.events(types=["impression"], user_ids=[keys[users[0]]])
    contexts = [json.loads(c) for c in impressions["context"].drop_nulls()]
    named = [c["experiments"]["exposed"] for c in contexts if "exposed" in c.get("experiments", {})]
    assert named and set(named) == {served[users[0]]}


def test_exposures_change_no_profile_live_or_rebuilt(shop: tuple[Workspace, str]) -> None:
    ws, _ = shop
    at = datetime.now(UTC)
    now = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    clock = int(at.timestamp() * 1000)  # one clock for every read: recency_days compares exactly
    key = ws.pseudonymizer.one(USERS[0])
    ws.profiles.flush()
    before = ws.profiles.get(key, now_ms=clock)
    exposure = pl.DataFrame(
        {"event_id": ["exp-test-1"], "user_id": [USERS[0]], "type": ["exposure"],
         "timestamp": [now],
         "properties": ['{"experiment": "x", "variant": "control"}']}
    )  # fmt: skip
    assert ws.ingestor.ingest_events(exposure, "test").accepted == 1
    ws.profiles.flush()
    after = ws.profiles.get(key, now_ms=clock)
    assert before is not None and after is not None
    assert before.traits["recency_days"] > 1  # an exposure counted as activity would zero it
    assert after.to_dict() == before.to_dict()
    ws.profiles.rebuild()
    rebuilt = ws.profiles.get(key, now_ms=clock)
    assert rebuilt is not None and rebuilt.to_dict() == before.to_dict()


def test_a_visitor_keeps_the_variant_after_identifying(shop: tuple[Workspace, str]) -> None:
    ws, _ = shop
    exp = parse_experiment(
        {"key": "visitors", "variants": [{"name": "control", "weight": 1},
                                         {"name": "b", "weight": 1}], "metrics": {"primary": "ctr"}}
    )  # fmt: skip
    user = "fresh-user-1"
    own = pick(exp, ws.pseudonymizer.one(user)).name
    anon = next(f"anon-{i}" for i in range(100)
                if pick(exp, f"anon:{ws.pseudonymizer.one(f'anon-{i}')}").name != own)  # fmt: skip
    with TestClient(create_app(ws)) as client:
        put(client, "visitors", [v.model_dump() for v in exp.variants])
        as_visitor = client.get("/v1/featured", params={"anonymous_id": anon}).json()
        variant = as_visitor["experiments"]["visitors"]
        assert variant != own
        engine_of(client).sink.flush()
        identify = pl.DataFrame(
            {"event_id": ["id-1"], "user_id": [user], "anonymous_id": [anon],
             "type": ["identify"], "timestamp": ["2026-12-06T00:00:00Z"]}
        )  # fmt: skip
        ws.ingestor.ingest_events(identify, "test")
        ws.profiles.flush()
        assert recs(client, user)["experiments"]["visitors"] == variant
        stop(client, "visitors")


def test_targeting_admits_segment_members_new_or_returning_users_and_the_start_window(
    shop: tuple[Workspace, str],
) -> None:
    ws, _ = shop
    ws.profiles.flush()
    # returning: users with a profile; new: visitors nobody has seen an event of
    known = [u for u in USERS[:100] if ws.profiles.get(ws.pseudonymizer.one(u)) is not None]
    unknown = USERS[-40:]
    segments = {u: set(ws.profiles.segments(ws.pseudonymizer.one(u)) or {}) for u in known}
    name = Counter(s for found in segments.values() for s in found).most_common(1)[0][0]
    arms = [{"name": "control", "weight": 1}, {"name": "b", "weight": 1}]
    with TestClient(create_app(ws)) as client:
        put(client, "seg", arms, targeting={"segments": [name]})
        put(client, "new", arms, targeting={"users": "new"})
        put(client, "back", arms, targeting={"users": "returning"})
        put(client, "later", arms, start="2999-01-01T00:00:00Z")
        served = {u: set(recs(client, u).get("experiments", {})) for u in known + unknown}
        for key in ("seg", "new", "back", "later"):
            stop(client, key)
    members = {u for u in known if name in segments[u]}
    assert 0 < len(members) < len(known)
    for u in known:
        assert served[u] & {"seg", "new", "back", "later"} == {"back"} | (
            {"seg"} if u in members else set()
        )
    assert all(served[u] & {"seg", "new", "back", "later"} == {"new"} for u in unknown)


def test_models_canary_creates_an_experiment_serving_the_canary_share(
    shop: tuple[Workspace, str],
) -> None:
    ws, second = shop
    run = CliRunner().invoke(cli, ["models", "canary", second, "--share", "30", "-w", str(ws.root)])
    assert run.exit_code == 0, run.output
    assert f"canary: {second} (30%)" in run.output
    assert (ws.root / "experiments" / f"canary-{second}.yaml").is_file()
    with TestClient(create_app(ws)) as client:
        bodies = [recs(client, u) for u in USERS]
        ready = client.get("/readyz").json()
    assert ready["experiments"][f"canary-{second}"] == ["control", "treatment"]
    on_canary = [b for b in bodies if b["model_version"] == second]
    share = len(on_canary) / len(bodies)
    print(json.dumps({"canary_share": share, "expected": 0.3, "users": len(bodies)}))
    assert abs(share - 0.3) < 0.09  # 4 standard errors (0.315 with KEY)
    assert all(b["experiments"][f"canary-{second}"] == "treatment" for b in on_canary)
    off = CliRunner().invoke(cli, ["models", "canary", second, "--share", "0", "-w", str(ws.root)])
    assert off.exit_code == 0 and "canary: -" in off.output


def test_the_admin_api_lists_reads_refuses_and_stops(shop: tuple[Workspace, str]) -> None:
    ws, _ = shop
    with TestClient(create_app(ws)) as client:
        put(client, "api", [{"name": "control", "weight": 1}, {"name": "b", "weight": 2}])
        assert client.get("/v1/experiments/api").json()["variants"][1]["weight"] == 2
        assert "api" in [e["key"] for e in client.get("/v1/experiments").json()["experiments"]]
        assert client.get("/v1/experiments/nope").status_code == 404
        bad = client.put("/v1/experiments/bad", json={"variants": [], "metrics": {}})
        assert bad.status_code == 422 and "variants" in bad.json()["message"]
        missing = [{"name": "control", "weight": 1},
                   {"name": "b", "weight": 1, "serving": {"model_version": "v0999"}}]  # fmt: skip
        body = {"variants": missing, "metrics": {"primary": "ctr"}}
        refused = client.put("/v1/experiments/ghost", json=body)
        assert refused.status_code == 422 and "v0999" in refused.json()["message"]
        stop(client, "api")
        assert client.get("/v1/experiments/api").json()["status"] == "stopped"


def test_exposed_users_keep_their_variant_when_weights_change_in_a_new_process(
    shop: tuple[Workspace, str],
) -> None:
    ws, _ = shop
    users = USERS[:200]
    even = [{"name": "control", "weight": 1}, {"name": "b", "weight": 1}]
    with TestClient(create_app(ws)) as client:
        put(client, "sticky", even, targeting={"traffic": 0.5})
        before = {u: recs(client, u).get("experiments", {}).get("sticky") for u in users}
        engine_of(client).sink.flush()
    entered = {u: v for u, v in before.items() if v is not None}
    assert 0.35 < len(entered) / len(users) < 0.65  # the traffic share (0.505 with KEY)
    skewed = [{"name": "control", "weight": 1}, {"name": "b", "weight": 9}]
    with TestClient(create_app(ws)) as fresh:  # no memo: the recorded exposures decide
        put(fresh, "sticky", skewed, targeting={"traffic": 1.0})
        after = {u: recs(fresh, u)["experiments"]["sticky"] for u in users}
        stop(fresh, "sticky")
    exp = parse_experiment({"key": "sticky", "variants": skewed, "metrics": {"primary": "ctr"}})
    moved = [u for u in entered if pick(exp, ws.pseudonymizer.one(u)).name != entered[u]]
    assert moved  # the new weights alone would move these users
    assert {u: after[u] for u in entered} == entered
    newcomers = [after[u] for u in users if u not in entered]
    assert Counter(newcomers)["b"] / len(newcomers) > 0.75  # new users follow the new weights
