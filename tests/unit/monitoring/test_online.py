"""Online metrics: attribution of clicks and purchases to impressions, rows, drops, alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from tastemaker.config import MonitoringConfig
from tastemaker.engine.events import (
    ServedFeatured,
    ServedListImpression,
    ServedRecommendations,
    records_frame,
)
from tastemaker.errors import ValidationFailedError
from tastemaker.monitoring.alerts import AlertLog
from tastemaker.monitoring.drops import metric_drops
from tastemaker.monitoring.impressions import served_frame
from tastemaker.monitoring.online import OnlineRow, attributed
from tastemaker.storage.sqlite import SqliteStore

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _events(rows: list[tuple[str, str, str, datetime]]) -> pl.DataFrame:
    return pl.DataFrame(
        {"user_id": [r[0] for r in rows], "item_id": [r[1] for r in rows],
         "type": [r[2] for r in rows], "timestamp": [r[3] for r in rows]},
        schema={"user_id": pl.String, "item_id": pl.String, "type": pl.String,
                "timestamp": pl.Datetime("ms", "UTC")},
    )  # fmt: skip


def test_a_click_or_purchase_counts_only_within_the_window_after_the_impression() -> None:
    served = _events([("u1", "a", "impression", T0), ("u1", "b", "impression", T0),
                      ("u2", "a", "impression", T0), ("u3", "a", "impression", T0)])  # fmt: skip
    actions = _events([
        ("u1", "a", "click", T0 + timedelta(minutes=5)),      # counts
        ("u1", "a", "purchase", T0 + timedelta(hours=2)),     # counts
        ("u1", "b", "click", T0 - timedelta(minutes=1)),      # before: no
        ("u2", "a", "click", T0 + timedelta(hours=30)),       # too late: no
        ("u3", "b", "click", T0 + timedelta(minutes=1)),      # another item: no
        ("u3", "a", "view", T0 + timedelta(minutes=1)),       # not a click: no
    ])  # fmt: skip
    out = attributed(served, actions, hours=24)
    assert out["clicked"].to_list() == [True, False, False, False]
    assert out["converted"].to_list() == [True, False, False, False]
    assert out.height == served.height


def test_served_frame_reads_both_impression_layouts_and_skips_featured() -> None:
    at = int(T0.timestamp() * 1000)
    record = ServedRecommendations("r1", "u1", ["a", "b"], "v0002", "control", None, at,
                                   {"exp": "b"}, [0.9, 0.4], 3)  # fmt: skip
    per_item = records_frame([record])
    per_list = records_frame([ServedListImpression(record)])
    featured = records_frame([ServedFeatured("f1", "u1", None, "c", {"placement": "featured"}, 0)])
    frame = served_frame(pl.concat([per_item, per_list, featured]))
    assert frame["item_id"].to_list() == ["a", "b", "a", "b"]
    assert frame["score"].to_list() == [0.9, 0.4, 0.9, 0.4]
    assert frame["history"].to_list() == [3.0] * 4
    assert set(frame["model_version"]) == {"v0002"}
    assert frame["experiments"][0] == '{"exp":"b"}'


def _row(day: str, imps: int, clicks: int) -> OnlineRow:
    return OnlineRow(day, "v0001", None, None, imps, clicks, 0)


def test_a_day_far_below_the_days_before_is_a_drop_and_noise_is_not() -> None:
    cfg = MonitoringConfig(min_impressions=100, metric_drop=0.3)
    now = datetime(2026, 3, 5, 12, tzinfo=UTC).timestamp()  # last complete day: 03-03
    days = [_row("2026-03-01", 1000, 100), _row("2026-03-02", 1000, 100)]
    drops = metric_drops([*days, _row("2026-03-03", 1000, 40)], cfg, now)
    assert [(d.subject, d.day) for d in drops] == [("ctr:v0001", "2026-03-03")]
    assert drops[0].rate == pytest.approx(0.04) and drops[0].baseline == pytest.approx(0.1)
    assert drops[0].p_value < 0.05
    assert metric_drops([*days, _row("2026-03-03", 1000, 90)], cfg, now) == []  # -10%: no
    assert metric_drops([*days, _row("2026-03-03", 50, 0)], cfg, now) == []  # too few
    assert metric_drops([*days, _row("2026-03-04", 1000, 0)], cfg, now) == []  # incomplete


def test_the_alert_log_records_and_reads_back_by_time_and_kind(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "a.db")
    store.migrate()
    log = AlertLog(store)
    log.record("drift", "price", {"psi": 0.5}, "v0001", ts=100.0)
    log.record("metric_drop", "ctr:v0001", {"rate": 0.01}, "v0001", ts=200.0)
    assert [a.subject for a in log.since(150.0)] == ["ctr:v0001"]
    assert [a.detail for a in log.since(0, "drift")] == [{"psi": 0.5}]
    assert log.since()[0].ts == 100.0 and log.counts() == {"drift": 1, "metric_drop": 1}
    with pytest.raises(ValidationFailedError, match="not one of"):
        log.record("nonsense", "x")  # type: ignore[arg-type]
    store.close()
