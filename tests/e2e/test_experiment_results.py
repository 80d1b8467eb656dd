"""An experiment read back from the log: exposures, planted purchases, the analysis over the
API and the CLI (the same numbers), and `experiments power`."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tastemaker.cli.app import app as cli
from tastemaker.datasets.marketplace import generate_marketplace
from tastemaker.experiments.results import exposures
from tastemaker.serving import create_app
from tastemaker.workspace import Workspace

USERS = 600
KEY = b"tastemaker-test-experiment-results"  # see the fixture
SEGMENTS: dict[str, list[str]] = {}  # each user's segments when served


@pytest.fixture(scope="module")
def exposed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, dict]]:
    """A featured-listing experiment, 600 users served once each, and the variants they got.

    A fixed pseudonymization key: the assignment hashes the pseudonyms, and with a fresh key
    the 600-user split failed the sample-ratio check (p < 0.001, so "untrustworthy") in one
    run in a thousand by design (measured: 1 of 2,000 keys). With this key the split's
    p is 0.33.
    """
    ws = Workspace.init(
        tmp_path_factory.mktemp("results") / "ws", allow_anonymous="always", key=KEY
    )
    (ws.root / "recommendations.yaml").write_text("seed: 3\nreload_check_seconds: 0\n")
    m = generate_marketplace(users=USERS, items=150, days=5, seed=8)
    ws.ingestor.ingest_items(m.items, "test")
    ws.ingestor.ingest_events(m.events, "test")
    with TestClient(create_app(ws)) as client:
        body = {
            "variants": [
                {"name": "control", "weight": 1, "serving": {"featured_policy": "random"}},
                {"name": "segments", "weight": 1, "serving": {"featured_policy": "personalized"}},
            ],
            "metrics": {"primary": "conversion", "secondary": ["revenue", "ctr"],
                        "guardrails": [{"metric": "add_to_cart", "tolerance": 0.5}]},
        }  # fmt: skip
        assert client.put("/v1/experiments/featured", json=body).status_code == 200
        got = {}
        for user in m.users["user_id"]:
            answer = client.get("/v1/featured", params={"user_id": user})
            assert answer.status_code == 200, answer.text
            got[user] = answer.json()["experiments"]["featured"]
        engine = client.app.state.engine  # type: ignore[attr-defined]
        engine.sink.flush()
    segments = {u: sorted(ws.profiles.segments(ws.pseudonymizer.one(u)) or {}) for u in got}
    SEGMENTS.update(segments)
    yield ws, got
    ws.close()


PLANTED: dict[str, float] = {}


def _plant_purchases(ws: Workspace, variants: dict[str, str]) -> dict[str, float]:
    """Purchases after exposure: exactly 10% of control users, 30% of treated; the observed
    rates (planted once per module, whichever test runs first).

    Exact shares, not a coin per user: coins made the planted difference itself depend on
    how the hash of the pseudonyms split the users.
    """
    if PLANTED:
        return PLANTED
    rng = np.random.default_rng(0)
    at = datetime.now(UTC)  # after every exposure, before the analysis's "now"
    rate = {"control": 0.10, "segments": 0.30}
    buyers = []
    for variant, share in rate.items():
        arm = sorted(u for u, v in variants.items() if v == variant)
        buyers += list(rng.choice(arm, size=round(share * len(arm)), replace=False))
    ws.ingestor.ingest_events(
        pl.DataFrame(
            {
                "event_id": [f"buy-{u}" for u in buyers],
                "user_id": buyers,
                "type": ["purchase"] * len(buyers),
                "item_id": ["i000001"] * len(buyers),
                "value": [100.0] * len(buyers),
                "timestamp": pl.Series([at] * len(buyers)).cast(pl.Datetime("ms", "UTC")),
            }
        ),
        "test",
    )
    bought = set(buyers)
    PLANTED.update(
        {v: float(np.mean([u in bought for u, w in variants.items() if w == v])) for v in rate}
    )
    return PLANTED


def test_the_analysis_reads_exposures_and_outcomes_from_the_log(
    exposed: tuple[Workspace, dict],
) -> None:
    ws, variants = exposed
    observed = _plant_purchases(ws, variants)
    with TestClient(create_app(ws)) as client:
        answer = client.get("/v1/experiments/featured/results")
        assert answer.status_code == 200, answer.text
        api = answer.json()
        assert client.get("/v1/experiments/nope/results").status_code == 404
        assert client.get("/v1/experiments/featured/results?alpha=2").status_code == 422
    assert api["users"] == USERS and api["trustworthy"] is True
    counts = {v: list(variants.values()).count(v) for v in ("control", "segments")}
    assert api["srm"]["observed"] == counts
    conversion = next(r for r in api["results"] if r["metric"] == "conversion")
    assert conversion["control_value"] == pytest.approx(observed["control"])
    assert conversion["value"] == pytest.approx(observed["segments"])
    assert conversion["abs_ci"][0] > 0 and conversion["p_value"] < 0.001
    revenue = next(r for r in api["results"] if r["metric"] == "revenue")
    assert revenue["value"] == pytest.approx(100 * observed["segments"])
    assert next(r for r in api["results"] if r["metric"] == "revenue")["holm_p"] is not None
    assert next(r for r in api["results"] if r["metric"] == "add_to_cart")["guardrail"]

    run = CliRunner().invoke(
        cli, ["experiments", "analyze", "featured", "-w", str(ws.root), "--json"]
    )
    assert run.exit_code == 0, run.output
    assert json.loads(run.output) == api
    html = (ws.root / "reports" / "experiment-featured.html").read_text()
    assert html.count("data:image/png;base64,") >= 3  # effects, cumulative, allocation
    assert "conversion: cumulative difference" in html and "UNTRUSTWORTHY" not in html


def test_power_gives_statsmodels_sample_size_and_the_runtime() -> None:
    run = CliRunner().invoke(
        cli,
        ["experiments", "power", "--baseline", "0.05", "--mde", "0.02",
         "--users-per-day", "500", "--json"],
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    out = json.loads(run.output)
    assert (out["control"], out["treatment"], out["days"]) == (2199, 2199, 9)
    bad = CliRunner().invoke(cli, ["experiments", "power", "--baseline", "0.99", "--mde", "0.02"])
    assert bad.exit_code != 0 and "must be in (0, 1)" in " ".join(bad.output.split())


def test_the_triggered_analysis_keeps_users_in_a_segment_when_exposed(
    exposed: tuple[Workspace, dict],
) -> None:
    ws, _ = exposed
    recorded = exposures(ws.store, "featured")
    by_key = {ws.pseudonymizer.one(u): s for u, s in SEGMENTS.items()}
    pairs = zip(recorded["user_id"], recorded["segments"], strict=True)
    assert {k: sorted(s) for k, s in pairs} == by_key
    in_any = sum(1 for s in SEGMENTS.values() if s)
    assert 0 < in_any < USERS
    name = max({s for segs in SEGMENTS.values() for s in segs},
               key=lambda s: sum(s in v for v in SEGMENTS.values()))  # fmt: skip
    with TestClient(create_app(ws)) as client:
        triggered = client.get("/v1/experiments/featured/results", params={"triggered": True})
        one = client.get("/v1/experiments/featured/results", params={"segment": name})
    assert triggered.json()["users"] == in_any
    assert one.json()["users"] == sum(name in s for s in SEGMENTS.values())
    run = CliRunner().invoke(
        cli, ["experiments", "analyze", "featured", "-w", str(ws.root), "--triggered", "--json"]
    )
    assert run.exit_code == 0 and json.loads(run.output) == triggered.json()


def test_the_breakdown_by_device_splits_every_user_once_and_matches_the_filter(
    exposed: tuple[Workspace, dict],
) -> None:
    ws, _ = exposed
    with TestClient(create_app(ws)) as client:
        answer = client.get("/v1/experiments/featured/breakdown", params={"by": "device"})
        assert answer.status_code == 200, answer.text
        groups = answer.json()["groups"]
        one = client.get("/v1/experiments/featured/results", params={"device": groups[0]["group"]})
        assert client.get("/v1/experiments/featured/breakdown?by=colour").status_code == 422
    assert {g["group"] for g in groups} <= {"mobile", "desktop", "tablet", "unknown"}
    assert sum(g["users"] for g in groups) == USERS  # every unit on exactly one device
    assert [g["users"] for g in groups] == sorted((g["users"] for g in groups), reverse=True)
    assert one.json()["users"] == groups[0]["users"]
    primary = next(r for r in one.json()["results"] if r["role"] == "primary")
    assert groups[0]["results"][0]["value"] == pytest.approx(primary["value"])
    run = CliRunner().invoke(
        cli, ["experiments", "analyze", "featured", "-w", str(ws.root), "--by", "device",
              "--json", "--no-report"],
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    assert json.loads(run.output)["breakdown"]["groups"] == groups
    html_run = CliRunner().invoke(cli, ["experiments", "analyze", "featured", "-w", str(ws.root)])
    assert html_run.exit_code == 0, html_run.output
    html = (ws.root / "reports" / "experiment-featured.html").read_text()
    assert "by device (relative difference)" in html


def test_the_breakdown_by_segment_and_the_report_plots_read_offline(
    exposed: tuple[Workspace, dict],
) -> None:
    ws, _ = exposed
    with TestClient(create_app(ws)) as client:
        answer = client.get("/v1/experiments/featured/breakdown", params={"by": "segment"})
    assert answer.status_code == 200, answer.text
    groups = answer.json()["groups"]
    members = Counter(s for segs in SEGMENTS.values() for s in segs)
    assert groups and {g["group"]: g["users"] for g in groups} == {
        g["group"]: members[g["group"]] for g in groups
    }
    assert all(r["role"] == "primary" for g in groups for r in g["results"])
    run = CliRunner().invoke(cli, ["experiments", "analyze", "featured", "-w", str(ws.root)])
    assert run.exit_code == 0, run.output
    html = (ws.root / "reports" / "experiment-featured.html").read_text()
    for title in ("Effects", "conversion: cumulative difference", "Allocation over time",
                  "conversion by segment (relative difference)",
                  "conversion by device (relative difference)"):  # fmt: skip
        assert f"<h2>{title}</h2>" in html
    assert html.count("data:image/png;base64,") == 5
    assert "http://" not in html and "https://" not in html  # nothing fetched: offline


def test_a_metric_without_data_is_a_null_row_with_a_note_in_api_cli_and_report(
    exposed: tuple[Workspace, dict],
) -> None:
    ws, variants = exposed
    _plant_purchases(ws, variants)
    folder = ws.root / "experiments"
    (folder / "metrics.yaml").write_text(
        "- name: wishlist\n  numerator: {event_type: wishlist, aggregation: count}\n"
        "- name: wish_ctr\n  numerator: {event_type: wishlist}\n"
        "  denominator: {event_type: wishlist_view}\n"
    )
    original = (folder / "featured.yaml").read_text()
    definition = yaml.safe_load(original)
    definition["metrics"]["secondary"] += [{"metric": "wishlist"}, {"metric": "wish_ctr"}]
    (folder / "featured.yaml").write_text(yaml.safe_dump(definition))
    try:
        with TestClient(create_app(ws)) as client:
            assert client.get("/v1/experiments").json()["invalid"] == {}  # metrics.yaml
            answer = client.get("/v1/experiments/featured/results")
        assert answer.status_code == 200, answer.text
        rows = {r["metric"]: r for r in answer.json()["results"]}
        for name in ("wishlist", "wish_ctr"):
            assert rows[name]["value"] is None and rows[name]["abs_ci"] == [None, None]
            assert rows[name]["p_value"] is None and rows[name]["note"]
        assert rows["conversion"]["value"] is not None and rows["conversion"]["note"] is None
        run = CliRunner().invoke(cli, ["experiments", "analyze", "featured", "-w", str(ws.root)])
        assert run.exit_code == 0, run.output
        text = " ".join(run.output.split())
        assert f"note: wishlist (segments): {rows['wishlist']['note']}" in text
        html = (ws.root / "reports" / "experiment-featured.html").read_text()
        assert rows["wish_ctr"]["note"] in html
    finally:
        (folder / "featured.yaml").write_text(original)
        (folder / "metrics.yaml").unlink()


def test_analyze_prints_the_primary_always_valid_result_next_to_the_fixed_horizon_one(
    exposed: tuple[Workspace, dict],
) -> None:
    ws, variants = exposed
    _plant_purchases(ws, variants)
    args = ["experiments", "analyze", "featured", "-w", str(ws.root), "--no-report"]
    data = json.loads(CliRunner().invoke(cli, [*args, "--json"]).output)
    primary = next(r for r in data["results"] if r["role"] == "primary")
    low, high = primary["sequential_ci"]
    assert low < primary["abs_ci"][0] <= primary["abs_diff"] <= primary["abs_ci"][1] < high
    assert primary["sequential_p"] >= primary["p_value"]
    run = CliRunner().invoke(cli, args)
    assert run.exit_code == 0, run.output
    text = " ".join(run.output.split())
    assert (
        f"primary conversion (segments - control): fixed horizon {primary['abs_diff']:.4f} "
        f"[{primary['abs_ci'][0]:.4f}, {primary['abs_ci'][1]:.4f}]"
    ) in text
    assert f"95% confidence sequence [{low:.4f}, {high:.4f}]" in text
    assert "always valid (any look) p =" in text
