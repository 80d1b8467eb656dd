"""The Thompson bandit as an allocation: a rebalance reads conversions from the log, records
the step and moves new users toward the better arm."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from tastemaker.engine.events import Exposure, exposure_event_id, records_frame
from tastemaker.errors import ValidationFailedError
from tastemaker.experiments.allocation import (
    history_path,
    load_history,
    rebalance,
    rebalance_due,
)
from tastemaker.experiments.definition import parse_experiment
from tastemaker.experiments.results import experiment_results
from tastemaker.experiments.store import EXPERIMENTS_DIR, ExperimentStore
from tastemaker.workspace import Workspace

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def _log(ws: Workspace, arms: dict[str, tuple[int, int]]) -> None:
    """Exposures and purchases: per arm (users, buyers)."""
    exposures, buys = [], []
    for arm, (users, buyers) in arms.items():
        for i in range(users):
            user = f"{arm}-{i}"
            ms = int(T0.timestamp() * 1000)
            exposures.append(Exposure(exposure_event_id("bandit", user), user, None, "bandit",
                                      arm, ms))  # fmt: skip
            if i < buyers:
                buys.append((f"buy-{user}", user, T0 + timedelta(hours=1)))
    ws.ingestor.ingest_events(records_frame(exposures), "test")
    ws.ingestor.ingest_events(
        pl.DataFrame(
            {"event_id": [b[0] for b in buys], "user_id": [b[1] for b in buys],
             "type": ["purchase"] * len(buys), "item_id": ["i1"] * len(buys),
             "timestamp": pl.Series([b[2] for b in buys]).cast(pl.Datetime("ms", "UTC"))}
        ),
        "test",
    )  # fmt: skip


def test_a_rebalance_moves_new_users_toward_the_arm_that_converts(
    sqlite_workspace: Workspace,
) -> None:
    ws = sqlite_workspace
    store = ExperimentStore(ws.root / EXPERIMENTS_DIR, check_seconds=0)
    store.put(parse_experiment({
        "key": "bandit", "allocation": "thompson", "min_share": 0.1,
        "variants": [{"name": "control", "weight": 1}, {"name": "b", "weight": 1}],
        "metrics": {"primary": "conversion"},
    }))  # fmt: skip
    ws.ingestor.ingest_items(pl.DataFrame({"item_id": ["i1"]}), "test")
    _log(ws, {"control": (200, 10), "b": (200, 40)})
    history = rebalance(ws.store, store, "bandit", now=T0 + timedelta(days=1))
    step = history.steps[-1]
    assert (step.successes, step.trials) == ((10, 40), (200, 200))
    shares = history.current
    assert shares["b"] > 0.85 and shares["control"] == pytest.approx(1 - shares["b"])
    assert shares["control"] >= 0.1 / 1.1 - 1e-12  # the floor, after renormalizing
    weights = {v.name: v.weight for v in store.get("bandit").variants}
    assert weights == pytest.approx(shares)
    recorded = json.loads(history_path(store.folder, "bandit").read_text())
    assert len(recorded["steps"]) == 1 and recorded["steps"][0]["trials"] == [200, 200]
    again = rebalance(ws.store, store, "bandit", now=T0 + timedelta(days=2))
    assert len(again.steps) == 2
    # the weights moved, so the sample-ratio check compares with what was observed
    result, _ = experiment_results(ws.store, store.get("bandit"), now=T0 + timedelta(days=2))
    assert result.trustworthy and result.results[0].comparison.p_value < 0.001


def test_only_a_bandit_with_a_proportion_can_rebalance(sqlite_workspace: Workspace) -> None:
    store = ExperimentStore(sqlite_workspace.root / EXPERIMENTS_DIR, check_seconds=0)
    base = {"variants": [{"name": "control", "weight": 1}, {"name": "b", "weight": 1}]}
    store.put(parse_experiment({**base, "key": "fixed", "metrics": {"primary": "conversion"}}))
    store.put(parse_experiment({**base, "key": "rev", "allocation": "thompson",
                                "metrics": {"primary": "revenue"}}))  # fmt: skip
    with pytest.raises(ValidationFailedError, match="fixed weights"):
        rebalance(sqlite_workspace.store, store, "fixed")
    with pytest.raises(ValidationFailedError, match="proportion"):
        rebalance(sqlite_workspace.store, store, "rev")


def _bandit(key: str, **extra: object) -> dict[str, object]:
    return {"key": key, "allocation": "thompson", "start": T0.isoformat(),
            "variants": [{"name": "control", "weight": 1}, {"name": "b", "weight": 1}],
            "metrics": {"primary": "conversion"}, **extra}  # fmt: skip


def test_rebalance_due_steps_each_bandit_once_its_hours_have_passed(
    sqlite_workspace: Workspace,
) -> None:
    ws = sqlite_workspace
    store = ExperimentStore(ws.root / EXPERIMENTS_DIR, check_seconds=0)
    store.put(parse_experiment(_bandit("bandit")))  # every 24 h (the default)
    store.put(parse_experiment(_bandit("hourly", rebalance_hours=6)))
    store.put(parse_experiment(_bandit("later", start=(T0 + timedelta(days=9)).isoformat())))
    store.put(parse_experiment(_bandit("stopped", status="stopped")))
    base = {"variants": _bandit("x")["variants"], "metrics": {"primary": "conversion"}}
    store.put(parse_experiment({**base, "key": "fixed", "start": T0.isoformat()}))
    ws.ingestor.ingest_items(pl.DataFrame({"item_id": ["i1"]}), "test")
    _log(ws, {"control": (100, 5), "b": (100, 30)})

    def due(hours: float) -> list[str]:
        done = rebalance_due(ws.store, store, T0 + timedelta(hours=hours))
        assert all(d.error is None and d.history is not None for d in done)
        return [d.key for d in done]

    assert due(5) == []  # nothing is older than its hours yet
    assert due(6) == ["hourly"]
    assert due(11.9) == []  # hourly's last step was at 6 h
    assert due(24) == ["bandit", "hourly"]
    assert due(30) == ["hourly"]
    steps = {k: len(load_history(store.folder, store.get(k)).steps) for k in ("bandit", "hourly")}
    assert steps == {"bandit": 1, "hourly": 3}
    recorded = json.loads(history_path(store.folder, "bandit").read_text())["steps"]
    assert recorded[0]["at"] == (T0 + timedelta(hours=24)).isoformat()
    assert recorded[0]["successes"] == [5, 30] and recorded[0]["trials"] == [100, 100]
    assert store.get("bandit").variants[1].weight > 0.9  # the weights were written back
    assert not history_path(store.folder, "later").exists()
    assert not history_path(store.folder, "stopped").exists()
    assert not history_path(store.folder, "fixed").exists()


def test_rebalance_due_reports_a_bandit_it_cannot_step_and_runs_the_others(
    sqlite_workspace: Workspace,
) -> None:
    store = ExperimentStore(sqlite_workspace.root / EXPERIMENTS_DIR, check_seconds=0)
    store.put(parse_experiment(_bandit("rev", metrics={"primary": "revenue"})))
    store.put(parse_experiment(_bandit("zz")))
    done = rebalance_due(sqlite_workspace.store, store, T0 + timedelta(days=1))
    assert [d.key for d in done] == ["rev", "zz"]
    assert done[0].history is None and "proportion" in (done[0].error or "")
    assert done[1].history is not None and len(done[1].history.steps) == 1


@pytest.mark.parametrize("hours", [0, -1, 24 * 400, "daily"])
def test_rebalance_hours_is_validated(hours: object) -> None:
    with pytest.raises(ValidationFailedError, match="rebalance_hours"):
        parse_experiment(_bandit("bad", rebalance_hours=hours))
