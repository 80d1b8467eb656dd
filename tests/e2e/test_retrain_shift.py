"""Guarded retraining after a planted shift of tastes in the synthetic marketplace.

Every user with a fuel preference changes it between day 7 and day 16 of a 24-day window
(``drift_share=1.0``; 40% of the catalog appears during the window). The store first holds
what had happened by the first drift day, and the live version is trained then: its lists
to users it knows do not drift (the control, so the detection can fail). Once the rest of
the window is in, the monitor pass (the last ``WINDOW_DAYS``) finds the taste change itself
in what users engaged with (``engaged.fuel_type`` against the live version's training
events), and staleness in the lists the version serves, and writes alerts; the same pass on
the same marketplace without the shift (``drift_share=0``) finds no engaged feature
drifted. The worker's retrain job, reading the alert log, runs: the candidate, trained on
the recent window, is better on the freshest days and is promoted, and simulated users
(the generator's ground-truth choice model) click more on the lists the engine serves
afterwards. A candidate trained on a few hours is worse and is kept out, with the figures,
by the command line.

The planted shift is made stronger than the generator's defaults (:data:`CONFIG`): with
them the engaged fuel mix moves by a population stability index of about 0.2 (0.14 to
0.22 over 1 to 3 days), on the threshold, because slates drawn by popularity, revisits of
earlier items and a latent taste as strong as the fuel one dilute it. Users here choose
from larger slates, leave a slate more often, revisit nothing and weigh the latent taste
less: the engaged fuel mix then moves by about 0.4 on the shift and 0.003 without it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from scipy import stats
from tests.e2e.conftest import Tastemaker
from threadpoolctl import threadpool_limits

from tastemaker.cli.worker_jobs import worker_jobs
from tastemaker.config import Settings
from tastemaker.datasets.marketplace import Marketplace
from tastemaker.datasets.marketplace_recent import marketplace_ending
from tastemaker.datasets.marketplace_sessions import MarketplaceConfig
from tastemaker.engine.runtime import Engine
from tastemaker.monitoring.alerts import AlertLog
from tastemaker.monitoring.checks import MonitorResult, run_monitor
from tastemaker.monitoring.engaged import PREFIX
from tastemaker.monitoring.features import categorical_features
from tastemaker.registry.artifacts import ServingArtifacts
from tastemaker.rerank.filters import Filters
from tastemaker.retraining.run import retrain
from tastemaker.simulation.users import ChoiceModel
from tastemaker.training.recommender import registry_of
from tastemaker.workspace import Workspace

DAYS = 24
SHOWN = 8  # items per served list
VISITORS = 400
POSITIVE = ["view", "click", "add_to_cart", "purchase", "rating"]  # what training counts
HOLDOUT_DAYS = 2.0  # of the live version's training
WINDOW_DAYS = 2.0  # monitoring window: the last two days of the marketplace, all drifted
#: The marketplace, with tastes that show in engagements (see the module docstring).
CONFIG = MarketplaceConfig(new_item_share=0.4, taste_scale=1.0, no_click_logit=1.0,
                           slate_size=12, revisit_rate=0.0)  # fmt: skip


#: The first drift day of the shifted marketplace (seed 0).
FIRST_DRIFT_DAY = 7


def _first_drift(market: Marketplace) -> int:
    """The first day a user's tastes move."""
    drift = market._population.drift_day if market._population is not None else None
    assert drift is not None and (drift >= 0).mean() > 0.8  # the planted shift
    return int(drift[drift >= 0].min())


def _start(market: Marketplace) -> datetime:
    """The marketplace's first hour."""
    return market.events["timestamp"].min().replace(minute=0, second=0, microsecond=0)  # type: ignore[no-any-return, union-attr]


def _workspace(root: Path, drift_share: float) -> tuple[Workspace, Marketplace]:
    """A workspace with the marketplace (last event about now): its catalog and users, and the
    events before the shifted marketplace's first drift day (the rest comes later).

    The marketplace is generated from a fixed Friday and moved to end about now
    (:func:`~tastemaker.datasets.marketplace_recent.marketplace_ending`): the generator's
    activity follows the day of the week, and generated from 24 days before now, the guard's
    lower bound was +0.03 to +0.05 for six start weekdays but -0.0015 for a Saturday (the
    candidate not surely better: the test failed on every such run). From a fixed Friday it
    is +0.028 to +0.032 whatever the key and the minute of the hour (4 runs).
    """
    ws = Workspace.init(root)
    (root / "recommendations.yaml").write_text("seed: 0\nreload_check_seconds: 0\n")
    this_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    config = replace(CONFIG, drift_share=drift_share)
    market = marketplace_ending(this_hour, 800, 400, DAYS, seed=0, config=config)
    ws.ingestor.ingest_items(market.items, "test")
    ws.ingestor.ingest_users(market.users, "test")
    cut = _start(market) + timedelta(days=FIRST_DRIFT_DAY)
    ws.ingestor.ingest_events(market.events.filter(pl.col("timestamp") < cut), "test")
    ws.profiles.flush()
    ws.settings.retraining.model = "als"
    ws.settings.monitoring.window_days = WINDOW_DAYS
    return ws, market


@pytest.fixture(scope="module")
def shifted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, Marketplace]]:
    """A workspace with the shifted marketplace, events up to the first drift day."""
    ws, market = _workspace(tmp_path_factory.mktemp("retrain") / "ws", 1.0)
    assert _first_drift(market) == FIRST_DRIFT_DAY
    with threadpool_limits(1, "blas"):  # small solves: one thread is fastest
        yield ws, market
    ws.close()


def _click_probability(ws: Workspace, market: Marketplace, users: list[str]) -> np.ndarray:
    """Per user, P(click) on the list the engine serves now, on the last day's tastes."""
    engine = Engine(ws, watch=False)
    try:
        lists = [list(engine.recommend(u, SHOWN, Filters(), None).item_ids) for u in users]
    finally:
        engine.close()
    p_click, _ = ChoiceModel(market).probabilities(users, lists, DAYS - 1)
    return p_click.sum(axis=1)


def _active(market: Marketplace, start: datetime, end: datetime) -> set[str]:
    """Users with a view, click, cart, purchase or rating in ``[start, end)``."""
    ev = market.events.filter(pl.col("timestamp").is_between(start, end, closed="left"),
                              pl.col("type").is_in(POSITIVE))  # fmt: skip
    return set(ev["user_id"].drop_nulls().to_list())


def _known(ws: Workspace, version: str, users: list[str]) -> set[str]:
    """Those of ``users`` with a training history in ``version`` and a profile: the users
    its reference samples (``monitoring.baseline.pipeline_lists``)."""
    art = ServingArtifacts.load(registry_of(ws).path(version))
    rows = np.flatnonzero(np.diff(art.history.indptr) > 0)
    keys = {str(k) for k in np.asarray(art.model.users_.ids)[rows]}
    known = {u: ws.pseudonymizer.one(u) for u in users}
    return {u for u, k in known.items() if k in keys and ws.profiles.signals(k, 0).found}


def _serve(ws: Workspace, users: list[str]) -> None:
    """Serve a list to each user through the engine (impressions logged at the wall clock)."""
    engine = Engine(ws, watch=False)
    try:
        for u in users:
            engine.recommend(u, SHOWN, Filters(), None)
    finally:
        engine.close()


def _drifted(result: MonitorResult) -> dict[str, dict[str, float]]:
    """PSI and p-value of every drifted feature of a monitor pass."""
    assert result.drift is not None and result.drift.enough, result.drift_error
    return {f.feature: {"psi": round(f.psi, 3), "p": f.p_value, "n": f.n}
            for f in result.drift.features if f.drifted}  # fmt: skip


def _engaged(result: MonitorResult) -> dict[str, dict[str, Any]]:
    """PSI, chi-square p, rows and verdict of every engaged feature of a monitor pass (which
    had enough engagements for a verdict)."""
    assert result.drift is not None and result.drift.engaged_enough, result.drift
    rows = {f.feature: {"psi": round(f.psi, 3), "p": f.p_value, "n": f.n, "drifted": f.drifted}
            for f in result.drift.features if f.feature.startswith(PREFIX)}  # fmt: skip
    assert set(rows) == {PREFIX + a for a in categorical_features(Settings())}
    return rows


def _no_shift_pass(factory: pytest.TempPathFactory) -> MonitorResult:
    """The monitor pass of the same marketplace generated without the shift, its live version
    trained on the same days, every event in, no list served."""
    ws, market = _workspace(factory.mktemp("noshift") / "ws", 0.0)
    try:
        assert market._population is not None and (market._population.drift_day < 0).all()
        cut = _start(market) + timedelta(days=FIRST_DRIFT_DAY)
        ws.settings.retraining.window_days = 6.0
        ws.settings.retraining.holdout_days = HOLDOUT_DAYS
        assert retrain(ws, now=cut, reason="initial").promoted
        ws.ingestor.ingest_events(market.events.filter(pl.col("timestamp") >= cut), "test")
        return run_monitor(ws, record=False)
    finally:
        ws.close()


def test_after_a_shift_the_retrained_version_is_promoted_and_ctr_recovers(
    shifted: tuple[Workspace, Marketplace], tmp_path_factory: pytest.TempPathFactory
) -> None:
    ws, market = shifted
    start = _start(market)
    cut = start + timedelta(days=_first_drift(market))
    end = start + timedelta(days=DAYS)

    # before the shift: the live version, trained on days 0-5 (nothing live yet: promoted)
    ws.settings.retraining.window_days, ws.settings.retraining.holdout_days = 6.0, HOLDOUT_DAYS
    first = retrain(ws, now=cut, reason="initial")
    assert first.verdict == "PROMOTE" and first.promoted and first.live is None
    live = registry_of(ws).state().active
    assert live == first.candidate
    known = _known(ws, live, market.users["user_id"].to_list())

    # control: users the version knows, with nothing after its training in: no drift (and no
    # engagement in the window: no verdict on the engaged features)
    _serve(ws, sorted(known)[:VISITORS])
    control = run_monitor(ws)
    assert _drifted(control) == {} and control.alerts == []
    assert control.drift is not None and control.drift.engaged == 0
    assert AlertLog(ws.store).since(0.0) == []
    jobs = {job.name: job for job in worker_jobs(ws)}
    assert jobs["retrain"].fn(ws).startswith("not due")

    # the shift: the rest of the window comes in; the same kind of users visit
    mid = time.time()
    ws.ingestor.ingest_events(market.events.filter(pl.col("timestamp") >= cut), "test")
    ws.profiles.flush()
    _serve(ws, sorted(known & _active(market, end - timedelta(days=3), end))[:VISITORS])
    shifted_pass = run_monitor(ws)  # the last WINDOW_DAYS: engagements after the shift
    drifted = _drifted(shifted_pass)
    engaged = _engaged(shifted_pass)
    # the taste change itself: what users engaged with moved away from the live version's
    # training events, in the fuel mix (electric and hybrid up)
    assert shifted_pass.drift is not None and shifted_pass.drift.engaged_enough
    assert engaged["engaged.fuel_type"]["drifted"], engaged
    assert "engaged.fuel_type" in drifted
    # the lists it serves show staleness rather than the change: users bring activity the
    # version never trained on (history up; PSI about 0.2 with the control's lists in the
    # window, on the threshold: its verdict is not asserted)
    history = next(f for f in shifted_pass.drift.features if f.feature == "history")
    assert history.p_value < 1e-6 and (history.current_mean or 0) > (history.reference_mean or 0)
    assert len(shifted_pass.alerts) >= len(drifted)
    alerts = AlertLog(ws.store).since(mid, "drift")
    assert {a.subject for a in alerts} == set(drifted) and all(a.version == live for a in alerts)

    # the same pass on the same marketplace without the shift: no engaged feature drifts
    still = _engaged(_no_shift_pass(tmp_path_factory))
    assert not any(f["drifted"] for f in still.values()), still
    assert still["engaged.fuel_type"]["psi"] < 0.1

    visitors = market.users["user_id"].to_list()[:VISITORS]
    ctr_before = _click_probability(ws, market, visitors)

    # the worker's retrain job follows the alert log
    ws.settings.retraining.window_days, ws.settings.retraining.holdout_days = 8.0, 3.0
    line = jobs["retrain"].fn(ws)
    assert line.startswith(f"alert: {len(shifted_pass.alerts)} drift/metric alert(s) since "
                           "the last retrain -> PROMOTE"), line  # fmt: skip
    state = registry_of(ws).state()
    assert state.active != live and state.history[-1] == live
    entry = [e for e in ws.store.audit_entries() if e.action == "models.retrain"][-1]
    figures = json.loads(entry.detail)
    guard = figures["guard"]
    assert (
        figures["verdict"] == "PROMOTE" and figures["promoted"] and entry.actor == "worker:retrain"
    )
    assert guard["candidate_value"] > guard["live_value"] and guard["low"] > 0
    assert guard["users"] >= 200

    ctr_after = _click_probability(ws, market, visitors)
    gain = ctr_after - ctr_before
    assert gain.mean() > 0.01
    assert stats.ttest_rel(ctr_after, ctr_before, alternative="greater").pvalue < 0.01
    print(json.dumps({"guard": guard, "ctr_before": float(ctr_before.mean()),
                      "ctr_after": float(ctr_after.mean()), "drifted": drifted,
                      "engaged_shift": engaged, "engaged_no_shift": still,
                      "line": line, "alerts": shifted_pass.alerts,
                      "control": control.drift.to_dict() if control.drift else None,
                      "shift": shifted_pass.drift.to_dict() if shifted_pass.drift else None},
                     default=str))  # fmt: skip


def test_a_candidate_trained_on_a_few_hours_is_kept_out(
    shifted: tuple[Workspace, Marketplace], tm: Tastemaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, _ = shifted
    live = registry_of(ws).state().active
    assert live is not None  # the previous test promoted a version
    monkeypatch.setenv("TASTEMAKER__RETRAINING__WINDOW_DAYS", "0.25")
    monkeypatch.setenv("TASTEMAKER__RETRAINING__HOLDOUT_DAYS", "3")
    monkeypatch.setenv("TASTEMAKER__RETRAINING__MODEL", "als")
    done = tm("retrain", "-w", str(ws.root), cwd=ws.root)
    assert done.returncode == 0, done.stderr
    assert "KEEP" in done.stdout and "may be worse, the live version stays" in done.stdout
    assert "holdout users" in done.stdout and "ndcg@10 live_value" in done.stdout
    assert registry_of(ws).state().active == live
    entry = [e for e in ws.store.audit_entries() if e.action == "models.retrain"][-1]
    out = json.loads(entry.detail)
    assert out["verdict"] == "KEEP" and not out["promoted"] and out["trigger"] == "manual"
    assert out["guard"]["high"] < 0 and out["guard"]["live"] == live
    assert out["window"]["events"] < 2000
