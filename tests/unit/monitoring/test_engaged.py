"""Engaged features: what users engaged with, each user weighing 1, against the reference.

A shifted mix drifts; an unchanged one with a long tail of brands and users loyal to their
brand does not (it would if every engagement counted as an independent draw).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from scipy import stats

from tastemaker.config import MonitoringConfig, Settings
from tastemaker.monitoring.alerts import AlertLog
from tastemaker.monitoring.checks import run_monitor, snapshot_path
from tastemaker.monitoring.drift import compare
from tastemaker.monitoring.engaged import engaged_attributes, engaged_frame, engaged_types
from tastemaker.monitoring.exporter import MonitoringCollector
from tastemaker.monitoring.features import WEIGHT
from tastemaker.monitoring.reference import CategoricalReference, Reference, summarize
from tastemaker.monitoring.stats import categorical_drift, psi
from tastemaker.monitoring.workspace_report import write_workspace_report
from tastemaker.training.recommender import registry_of, train_version
from tastemaker.workspace import Workspace

CFG = MonitoringConfig()
TYPES = engaged_types(Settings())
BRANDS = [f"b{i:02d}" for i in range(60)]
FUELS = ["electric", "diesel", "petrol", "hybrid"]


def test_engagements_are_distinct_user_item_pairs_of_positive_types_each_user_weighing_1() -> None:
    assert TYPES == ["add_to_cart", "click", "purchase", "rating", "view"]
    items = pl.DataFrame({"item_id": ["a", "b", "c"], "fuel_type": ["diesel", None, "petrol"],
                          "brand": ["x", "y", "x"]})  # fmt: skip
    events = pl.DataFrame({
        "user_id": ["u1", "u1", "u1", "u1", "u2", "u2", None, "u3"],
        "item_id": ["a", "a", "b", "c", "c", "zz", "a", "a"],
        "type": ["view", "purchase", "click", "impression", "click", "click", "click",
                 "not_interested"],
    })  # fmt: skip
    frame = engaged_frame(events, items, ["fuel_type", "brand", "colour"], TYPES)
    got = sorted(frame.rows(), key=str)
    # u1: a (viewed and bought: once) and b; u2: c and an item not in the catalog
    assert got == sorted([
        ("diesel", "x", None, 0.5), (None, "y", None, 0.5),
        ("petrol", "x", None, 0.5), (None, None, None, 0.5),
    ], key=str)  # fmt: skip
    assert frame.columns == ["engaged.fuel_type", "engaged.brand", "engaged.colour", WEIGHT]
    assert engaged_attributes([*frame.columns, "brand"]) == ["fuel_type", "brand", "colour"]
    ref = CategoricalReference.of(frame["engaged.fuel_type"], frame[WEIGHT])
    assert ref.count == 1.0 and ref.shares == {"diesel": 0.5, "petrol": 0.5}  # nulls left out


def _engagements(rng: np.random.Generator, users: int, fuel_p: list[float]) -> pl.DataFrame:
    """Users loyal to one brand (Zipf-popular, 60 of them) and one fuel, 1 to 30 engagements
    each, mostly with their own brand and fuel."""
    zipf = 1.0 / np.arange(1, len(BRANDS) + 1)
    brand = rng.choice(len(BRANDS), users, p=zipf / zipf.sum())
    fuel = rng.choice(len(FUELS), users, p=fuel_p)
    n = np.minimum(rng.geometric(0.12, users), 30)
    u = np.repeat(np.arange(users), n)
    own_b, own_f = rng.random(u.size) < 0.8, rng.random(u.size) < 0.8
    b = np.where(own_b, brand[u], rng.choice(len(BRANDS), u.size, p=zipf / zipf.sum()))
    f = np.where(own_f, fuel[u], rng.integers(0, len(FUELS), u.size))
    return pl.DataFrame({
        "engaged.brand": np.array(BRANDS)[b], "engaged.fuel_type": np.array(FUELS)[f],
        WEIGHT: 1.0 / n[u],
    })  # fmt: skip


def test_a_shifted_engaged_mix_drifts_and_an_unchanged_long_tail_does_not() -> None:
    rng = np.random.default_rng(11)
    before = [0.15, 0.3, 0.4, 0.15]
    ref = summarize(_engagements(rng, 1500, before))
    assert set(ref.categorical) == {"engaged.brand", "engaged.fuel_type"} and not ref.numeric
    same = _engagements(rng, 300, before)
    quiet = {r.feature: r for r in compare(ref, same, CFG)}
    assert not any(r.drifted for r in quiet.values()), quiet
    assert quiet["engaged.brand"].p_value > CFG.chi2_p_threshold
    assert quiet["engaged.brand"].n == same.height  # rows compared, the test counts users
    # counted per engagement, the brand loyalty of a few heavy users reads as a drift
    rows = _engagements(np.random.default_rng(12), 1500, before)["engaged.brand"]
    loyal = categorical_drift("b", CategoricalReference.of(rows), same["engaged.brand"], CFG)
    assert rows.len() > 1500 and loyal.p_value < CFG.chi2_p_threshold
    shifted = {r.feature: r for r in compare(ref, _engagements(rng, 300, [0.6, 0.1, 0.15, 0.15]),
                                             CFG)}  # fmt: skip
    assert shifted["engaged.fuel_type"].drifted and not shifted["engaged.brand"].drifted
    assert shifted["engaged.fuel_type"].psi > CFG.psi_threshold
    assert not compare(ref, same.head(0), CFG)[0].drifted  # no engagements: no verdict


def test_the_weighted_chi_square_is_scipys_on_the_per_user_table(tmp_path: Path) -> None:
    # ten times: a user with a and a, one with b, one with b, b and c
    ref = summarize(pl.DataFrame({"engaged.fuel_type": ["a", "a", "b", "b", "b", "c"] * 10,
                                  WEIGHT: [0.5, 0.5, 1.0, 1 / 3, 1 / 3, 1 / 3] * 10}))  # fmt: skip
    ref.save(tmp_path)
    back = Reference.load(tmp_path)
    assert back == ref and back.categorical["engaged.fuel_type"].count == pytest.approx(30.0)
    cur = pl.DataFrame({"engaged.fuel_type": (["a"] * 6 + ["b"] * 6 + ["c"] * 6) * 4 + [None],
                        WEIGHT: ([1.0] * 6 + [0.5] * 6 + [0.25] * 6) * 4 + [1.0]})  # fmt: skip
    (row,) = compare(back, cur, CFG)
    # users per category: reference 10, 16.7, 3.3; window 24, 12, 6. "c" expects fewer than 5
    # on the reference side: it becomes "(other)" (alone); the null row is left out
    table = np.array([[10.0, 50 / 3, 10 / 3], [24.0, 12.0, 6.0]])
    chi = stats.chi2_contingency(table, correction=False)
    assert row.n == 72 and row.p_value == pytest.approx(chi.pvalue)
    assert row.statistic == pytest.approx(chi.statistic)
    assert row.psi == pytest.approx(psi(table[0], table[1]))


def _clicks(users: int, fuels: list[str], at: datetime, rng: np.random.Generator) -> pl.DataFrame:
    """Each user clicks 3 of the 40 items of one fuel type (its fuel drawn from ``fuels``)."""
    fuel = rng.choice(fuels, users)
    item = [f"{f}{j:02d}" for f in fuel for j in rng.choice(40, 3, replace=False)]
    return pl.DataFrame({
        "event_id": [f"{at:%j}-{k}" for k in range(3 * users)],
        "user_id": np.repeat([f"u{u:03d}" for u in range(users)], 3), "type": "click",
        "item_id": item, "timestamp": [at - timedelta(minutes=k % 600) for k in range(3 * users)],
    })  # fmt: skip


def test_engaged_drift_flows_to_the_json_the_alerts_the_gauges_and_the_report(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    ws, rng = sqlite_workspace, np.random.default_rng(3)
    items = pl.DataFrame({"item_id": [f"{f}{j:02d}" for f in FUELS for j in range(40)],
                          "fuel_type": np.repeat(FUELS, 40), "category": "car",
                          "price": 1000.0})  # fmt: skip
    ws.ingestor.ingest_items(items, "test")
    now = datetime.now(UTC)
    ws.ingestor.ingest_events(_clicks(300, ["diesel", "petrol"], now - timedelta(days=5), rng),
                              "test")  # fmt: skip
    version = train_version(ws, "popularity", holdout=0).version
    registry_of(ws).promote(version)
    assert "engaged.fuel_type" in Reference.load(registry_of(ws).path(version)).categorical
    ws.ingestor.ingest_events(_clicks(300, ["electric", "hybrid"], now, rng), "test")

    result = run_monitor(ws)
    assert result.drift is not None and result.drift.engaged == 900
    assert result.drift.engaged_enough and not result.drift.enough  # no list served
    drifted = [f.feature for f in result.drift.features if f.drifted]
    assert drifted == ["engaged.fuel_type"]  # one category ("car"): nothing to compare
    assert [a.subject for a in AlertLog(ws.store).since(0.0, "drift")] == drifted
    snapshot = json.loads(snapshot_path(ws).read_text())
    assert [f["feature"] for f in snapshot["drift"]["features"] if f["drifted"]] == drifted
    registry = CollectorRegistry()
    registry.register(MonitoringCollector(ws, ttl=0))
    text = generate_latest(registry).decode()
    assert f'tastemaker_drift_psi{{feature="engaged.fuel_type",version="{version}"}}' in text
    report = tmp_path / "monitoring.html"
    write_workspace_report(ws, result, report)
    html = report.read_text()
    assert "engaged.fuel_type: reference and current shares" in html and "900 engagements" in html
