"""A workspace serving only a purchase-propensity model: the retrain guards what is live.

The worker's retrain job is due on its schedule (a clock a week past the live version's
creation), retrains the propensity model on the rolling window and skips the recommender
step: no recommender version is trained or promoted. A manual retrain does the same.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tastemaker.datasets.marketplace import generate_marketplace
from tastemaker.propensity.examples import LabelSpec
from tastemaker.propensity.features import PropensityWindows
from tastemaker.propensity.training import PropensityConfig, registry_of, train_propensity
from tastemaker.retraining import retrain, retrain_if_due
from tastemaker.retraining.run import NO_RECOMMENDER
from tastemaker.training.recommender import registry_of as recommender_registry
from tastemaker.workspace import Workspace

DAYS = 22
WINDOW = 16.0  # days of the live version's training and of the retrain window
#: the live propensity version: logistic (fast), trained on the first WINDOW days
CFG = PropensityConfig(
    model="logistic",
    windows=PropensityWindows(user_days=3, item_days=10),
    labels=LabelSpec(horizon_days=2),
    test_days=2,
    calibration_days=2,
    calibration="none",
)


@pytest.fixture
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """22 days of a small marketplace ending about now, a live propensity version and no
    recommender; retraining: a 16-day window before a 3-day holdout."""
    ws = Workspace.init(tmp_path_factory.mktemp("propensity_only") / "ws")
    start = (datetime.now(UTC) - timedelta(days=DAYS)).replace(minute=0, second=0, microsecond=0)
    m = generate_marketplace(users=400, items=120, days=DAYS, seed=5, start=start)
    ws.ingestor.ingest_items(m.items, "test")
    ws.ingestor.ingest_events(m.events, "test")
    ws.profiles.flush()
    cfg = ws.settings.retraining
    cfg.model, cfg.window_days, cfg.holdout_days, cfg.min_users = "itemknn", WINDOW, 3.0, 5
    live = train_propensity(ws, CFG, window=(start, start + timedelta(days=WINDOW)))
    assert live.version is not None
    registry_of(ws).promote(live.version)
    yield ws
    ws.close()


def _retrain_rows(ws: Workspace) -> list[tuple[str | None, dict[str, object]]]:
    rows = [e for e in ws.store.audit_entries() if e.action == "models.retrain"]
    return [(e.target, json.loads(e.detail)) for e in rows]


def test_the_worker_retrains_a_workspace_serving_propensity_alone(ws: Workspace) -> None:
    week_later = time.time() + 169 * 3600  # schedule_hours (168) since the live version
    line = retrain_if_due(ws, clock=lambda: week_later)
    assert line.startswith(f"schedule: 169.0 h since the last retrain (every 168 h) -> "
                           f"SKIPPED: {NO_RECOMMENDER}; propensity: "), line  # fmt: skip
    assert recommender_registry(ws).versions() == []  # nothing trained for the recommender
    assert recommender_registry(ws).state().active is None
    assert registry_of(ws).versions() == ["v0001", "v0002"]  # the propensity candidate
    ((target, out),) = _retrain_rows(ws)
    assert target is None and out["verdict"] == "SKIPPED" and out["promoted"] is False
    assert out["candidate"] is None and out["model"] is None and out["guard"] is None
    window = out["window"]
    assert isinstance(window, dict) and window["events"] > 0
    step = out["propensity"]
    assert isinstance(step, dict) and step["live"] == "v0001" and step["candidate"] == "v0002"
    assert f"; propensity: {step['verdict']} v0002: " in line and step["guard"] is not None
    made = registry_of(ws).manifest("v0002").model_extra["retraining"]  # type: ignore[index]
    assert made["window_start"] == window["start"] and made["window_end"] == window["end"]
    # that retrain (and the newest live version) is the last one: not due again for a week
    assert retrain_if_due(ws).startswith("not due: 0.0 h of 168 h since the last retrain")


def test_a_manual_retrain_registers_no_recommender(ws: Workspace) -> None:
    out = retrain(ws, reason="manual", dry_run=True)
    assert out.verdict == "SKIPPED" and out.reason == NO_RECOMMENDER and not out.promoted
    assert out.candidate is None and out.guard is None and out.live is None
    assert out.propensity.verdict in ("PROMOTE", "KEEP") and out.propensity.live == "v0001"
    assert out.propensity.candidate == "v0002" and not out.propensity.promoted  # dry run
    assert recommender_registry(ws).versions() == []
    assert out.to_dict()["guard"] is None
