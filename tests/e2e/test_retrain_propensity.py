"""Guarded retraining of the purchase-propensity model beside the recommender's.

Two workspaces hold the same 30 days of a synthetic marketplace (the last event about now)
and a live propensity version trained on its first 15 days. In the first, conversion
rose tenfold on day 15 (before it, nine purchases in ten did not happen): the live version
expects too few purchases; a metric alert makes the worker's retrain job due, which trains
a propensity candidate on the 15 days before the holdout (the freshest 3), whose per-user
log loss on the held-out users is lower, and promotes it. In the second (no change of
conversion), a tracking fault attached every purchase of days 15-27 to a random user: the
candidate trained on that window learns from noise, its log loss on the (clean) holdout
is worse, and the command line keeps the live version, with the figures (no recommender
is live there: that step is skipped).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from tests.e2e.conftest import Tastemaker

from tastemaker.cli.worker_jobs import worker_jobs
from tastemaker.datasets.marketplace import Marketplace
from tastemaker.datasets.marketplace_recent import marketplace_ending
from tastemaker.monitoring.alerts import AlertLog
from tastemaker.propensity.examples import LabelSpec
from tastemaker.propensity.features import PropensityWindows
from tastemaker.propensity.training import PropensityConfig, registry_of, train_propensity
from tastemaker.training.recommender import registry_of as recommender_registry
from tastemaker.training.recommender import train_version
from tastemaker.workspace import Workspace

DAYS = 30
LIVE_DAYS = 15  # the live propensity version's training data: the first 15 days
CFG = PropensityConfig(
    model="lightgbm",
    windows=PropensityWindows(user_days=3, item_days=10),
    labels=LabelSpec(horizon_days=2),
    test_days=3,
    calibration_days=3,
)
KEY = b"tastemaker-test-retrain-propensity"
#: retraining settings of both workspaces (environment overrides reach the CLI's process)
RETRAINING = {"model": "itemknn", "window_days": "15", "holdout_days": "3", "min_users": "20"}


@pytest.fixture(scope="module")
def market() -> Marketplace:
    """30 days of a marketplace ending about now (generated from a fixed Friday: over the
    seven start weekdays the guard's upper bound ranged -0.0105 to +0.0034 against the +0.005
    margin; from this one it is about -0.01, see `_converting_later`)."""
    this_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return marketplace_ending(this_hour, users=1500, items=300, days=DAYS, seed=5)


def _start(market: Marketplace) -> datetime:
    return market.events["timestamp"].min().replace(minute=0, second=0, microsecond=0)  # type: ignore[no-any-return, union-attr]


def _workspace(root: Path, market: Marketplace, events: pl.DataFrame) -> Workspace:
    """A workspace with ``events``, the retraining settings, and a live propensity version
    trained on the first LIVE_DAYS (nothing later), under a fixed pseudonymization key (see
    `_converting_later`)."""
    ws = Workspace.init(root, key=KEY)
    cfg = ws.settings.retraining
    cfg.model, cfg.window_days, cfg.holdout_days, cfg.min_users = "itemknn", 15.0, 3.0, 20
    ws.ingestor.ingest_items(market.items, "test")
    ws.ingestor.ingest_events(events, "test")
    ws.profiles.flush()
    start = _start(market)
    live = train_propensity(ws, CFG, window=(start, start + timedelta(days=LIVE_DAYS)))
    assert live.version == "v0001"
    registry_of(ws).promote(live.version)
    return ws


def _converting_later(market: Marketplace) -> pl.DataFrame:
    """The events without nine purchases in ten of the first LIVE_DAYS (seeded).

    Tenfold, not fourfold: with three in four dropped the guard's upper bound landed at
    +0.0036 to +0.0056 against the +0.005 margin over runs (the workspace key and the clock
    vary), and one CI run kept the live version. The data also varied with the weekday of the
    run (now from a fixed Friday: ``marketplace_ending``) and the key (now fixed: `KEY`); what still
    varies is the minute of the hour the test runs at. Over minutes 0, 10, ... 50 and 59: this
    upper bound -0.0053 to -0.0132 (mean -0.0108, sd 0.0027) against +0.005; the scrambled
    workspace's lower bound +0.017 to +0.032 (mean 0.028, sd 0.005) against 0 (when the
    scrambled purchases went to a permutation of the buyers, it was +0.007 to +0.033).
    """
    early = (pl.col("type") == "purchase") & (
        pl.col("timestamp") < _start(market) + timedelta(days=LIVE_DAYS)
    )
    drop = np.random.default_rng(1).random(market.events.height) < 0.9
    return market.events.filter(~(early & pl.Series(drop)))


def _scrambled(market: Marketplace) -> pl.DataFrame:
    """The events with every purchase of days LIVE_DAYS..27 by a logged-in user attached to
    a user drawn at random from all users."""
    start, ts = _start(market), pl.col("timestamp")
    fault = (
        (pl.col("type") == "purchase")
        & pl.col("user_id").is_not_null()
        & ts.is_between(
            start + timedelta(days=LIVE_DAYS), start + timedelta(days=DAYS - 3), closed="left"
        )
    )
    hit = market.events.filter(fault)
    buyers = np.random.default_rng(0).choice(market.users["user_id"].to_list(), hit.height)
    hit = hit.with_columns(pl.Series("user_id", buyers.tolist(), dtype=hit["user_id"].dtype))
    return pl.concat([market.events.filter(~fault), hit]).sort("timestamp")


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory, market: Marketplace) -> Iterator[Workspace]:
    """The marketplace whose conversion rose tenfold on day LIVE_DAYS, with a live recommender
    (item-kNN on the first LIVE_DAYS) so the worker's retrain job guards both models."""
    ws = _workspace(tmp_path_factory.mktemp("clean") / "ws", market, _converting_later(market))
    early = ws.store.events(end=_start(market) + timedelta(days=LIVE_DAYS))
    recommender = train_version(ws, "itemknn", holdout=0, events=early)
    recommender_registry(ws).promote(recommender.version)
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory, market: Marketplace) -> Iterator[Workspace]:
    """The marketplace with the tracking fault in the candidate's window."""
    ws = _workspace(tmp_path_factory.mktemp("faulty") / "ws", market, _scrambled(market))
    yield ws
    ws.close()


def _last_retrain(ws: Workspace) -> dict[str, object]:
    entry = [e for e in ws.store.audit_entries() if e.action == "models.retrain"][-1]
    return json.loads(entry.detail)  # type: ignore[no-any-return]


def test_the_worker_promotes_a_propensity_candidate_that_is_not_worse(clean: Workspace) -> None:
    # the monitor saw conversion move: an alert makes the worker's retrain due
    AlertLog(clean.store).record("metric_drop", "conversion", {"note": "conversion moved"})
    line = {job.name: job for job in worker_jobs(clean)}["retrain"].fn(clean)
    assert line.startswith("alert: 1 drift/metric alert(s) since the last retrain -> "), line
    assert "; propensity: PROMOTE v0002: log_loss candidate" in line, line
    assert registry_of(clean).state().active == "v0002"
    manifest = registry_of(clean).manifest("v0002")
    made = manifest.model_extra["retraining"]  # type: ignore[index]
    assert made["trigger"].startswith("alert: 1 ") and made["live"] == "v0001"
    # the candidate was trained on the window only: nothing from the holdout
    assert manifest.data.end_ms < datetime.fromisoformat(made["window_end"]).timestamp() * 1000
    out = _last_retrain(clean)
    step = out["propensity"]
    assert isinstance(step, dict) and step["verdict"] == "PROMOTE" and step["promoted"]
    guard = step["guard"]
    assert guard["metric"] == "log_loss" and guard["lower_is_better"] is True
    assert guard["users"] >= 200 and guard["live"] == "v0001" and guard["candidate"] == "v0002"
    assert guard["high"] < guard["margin"] == 0.005
    assert guard["diff"] == pytest.approx(guard["candidate_value"] - guard["live_value"])
    # the live version never saw the holdout (a base-rate note may come: it does not decide)
    assert not any("inside the holdout" in note for note in step["notes"])
    print(json.dumps(step))


def test_a_candidate_trained_on_scrambled_purchases_is_kept_out(
    faulty: Workspace, tm: Tastemaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in RETRAINING.items():
        monkeypatch.setenv(f"TASTEMAKER__RETRAINING__{key.upper()}", value)
    done = tm("retrain", "-w", str(faulty.root), cwd=faulty.root)
    assert done.returncode == 0, done.stderr
    said = " ".join(done.stdout.split())  # rich wraps long lines
    # no recommender is live: that step is skipped, nothing is trained for it
    assert "recommender: SKIPPED: no recommender is live: nothing to retrain" in said
    assert "training window: " in said and recommender_registry(faulty).versions() == []
    assert "propensity: KEEP v0002: log_loss candidate" in said
    assert "may be worse, the live version stays" in said
    assert "propensity v0002 vs live v0001" in said and "log_loss live_value" in said
    assert registry_of(faulty).state().active == "v0001"
    out = _last_retrain(faulty)
    assert out["verdict"] == "SKIPPED" and out["candidate"] is None and out["guard"] is None
    step = out["propensity"]
    assert isinstance(step, dict) and step["verdict"] == "KEEP" and not step["promoted"]
    guard = step["guard"]
    assert guard["verdict"] == "KEEP" and guard["users"] >= 200
    # worse beyond doubt, not merely unproven: the whole interval lies above zero
    assert guard["low"] > 0 and guard["candidate_value"] > guard["live_value"]
    print(json.dumps(step))
