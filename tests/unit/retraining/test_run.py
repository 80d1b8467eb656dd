"""retrain() on a small workspace: first version, dry run, caveats, errors, audit rows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tastemaker.datasets.marketplace import generate_marketplace
from tastemaker.errors import ValidationFailedError
from tastemaker.retraining import retrain
from tastemaker.training.recommender import registry_of, train_version
from tastemaker.workspace import Workspace

START = datetime(2026, 1, 1, tzinfo=UTC)
END = START + timedelta(days=10)


@pytest.fixture
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """A workspace with 10 days of a small marketplace; retrains item-kNN (fast)."""
    ws = Workspace.init(tmp_path_factory.mktemp("run") / "ws")
    m = generate_marketplace(users=150, items=120, days=10, seed=3, start=START)
    ws.ingestor.ingest_items(m.items, "test")
    ws.ingestor.ingest_events(m.events, "test")
    cfg = ws.settings.retraining
    cfg.model, cfg.window_days, cfg.holdout_days, cfg.min_users = "itemknn", 5.0, 3.0, 5
    yield ws
    ws.close()


def _audit(ws: Workspace) -> list[dict[str, object]]:
    rows = [e for e in ws.store.audit_entries() if e.action == "models.retrain"]
    return [{"outcome": e.outcome, "target": e.target, **json.loads(e.detail)} for e in rows]


def test_first_retrain_promotes_then_a_dry_run_only_registers(ws: Workspace) -> None:
    first = retrain(ws, now=END, reason="initial")
    assert first.verdict == "PROMOTE" and first.promoted and first.live is None
    # no propensity model is live: that step is skipped, and says so
    assert first.propensity.verdict == "SKIPPED" and first.propensity.candidate is None
    assert "no propensity model is live" in first.propensity.reason
    assert first.window_start == (END - timedelta(days=8)).isoformat()
    assert first.window_end == (END - timedelta(days=3)).isoformat()
    manifest = registry_of(ws).manifest(first.candidate)
    assert manifest.model == "itemknn"
    assert manifest.model_extra["retraining"]["trigger"] == "initial"  # type: ignore[index]
    dry = retrain(ws, now=END, dry_run=True)
    assert dry.live == first.candidate and not dry.promoted and dry.guard.users >= 5
    assert dry.verdict in ("PROMOTE", "KEEP") and dry.guard.diff == pytest.approx(0.0)
    assert registry_of(ws).state().active == first.candidate
    rows = _audit(ws)
    assert [r["verdict"] for r in rows] == ["PROMOTE", dry.verdict]
    assert rows[1]["dry_run"] is True and rows[1]["guard"]["users"] == dry.guard.users  # type: ignore[index]
    assert rows[0]["propensity"]["verdict"] == "SKIPPED"  # type: ignore[index]


def test_a_live_version_trained_on_the_holdout_is_flagged(ws: Workspace) -> None:
    live = train_version(ws, "itemknn", holdout=0)  # every event, the holdout's too
    registry_of(ws).promote(live.version)
    out = retrain(ws, now=END, dry_run=True)
    assert out.live == live.version
    assert out.notes and "inside the holdout" in out.notes[0]


def test_an_empty_window_fails_clearly_and_is_audited(ws: Workspace) -> None:
    with pytest.raises(ValidationFailedError, match=r"no events between .* to retrain on"):
        retrain(ws, now=START + timedelta(days=1))
    (row,) = _audit(ws)
    assert row["outcome"] == "error" and "retrain on" in str(row["error"])
