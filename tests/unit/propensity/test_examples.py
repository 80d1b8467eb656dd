"""Labelled propensity examples: candidates before the cutoff, labels after it."""

from __future__ import annotations

import itertools

import polars as pl
import pytest

from tastemaker.errors import ValidationFailedError
from tastemaker.propensity.examples import LabelSpec, cutoffs, labelled_examples
from tastemaker.propensity.features import DAY_MS, HOUR_MS, PropensityWindows, item_events

W = PropensityWindows(user_days=2, item_days=5)
SPEC = LabelSpec(horizon_days=2, step_days=1)
ITEMS = pl.DataFrame({"item_id": ["a", "b"], "category": ["x", "y"], "price": [1.0, 2.0]})
D = 10 * DAY_MS


def _events(rows: list[tuple[str, str, str, int]]) -> pl.DataFrame:
    return item_events(pl.DataFrame(
        [(u, i, t, None, ts) for u, i, t, ts in rows],
        schema={"user_id": pl.String, "item_id": pl.String, "type": pl.String,
                "value": pl.Float64, "ts": pl.Int64},
        orient="row",
    ))  # fmt: skip


EVENTS = _events(
    [
        ("u", "a", "view", D + HOUR_MS),
        ("u", "b", "view", D + DAY_MS + HOUR_MS),
        ("u", "a", "purchase", D + 3 * DAY_MS + HOUR_MS),
        ("v", "b", "view", D + 6 * DAY_MS),
    ]
)


def test_cutoffs_leave_a_full_window_before_and_horizon_after() -> None:
    times = cutoffs(EVENTS, W, SPEC)
    assert times[0] == D + 3 * DAY_MS  # first event + 2 days, rounded up to a day
    assert times[-1] <= D + 6 * DAY_MS - 2 * DAY_MS
    assert all(b - a == DAY_MS for a, b in itertools.pairwise(times))


def test_label_is_a_purchase_of_that_item_within_the_horizon() -> None:
    ex = labelled_examples(EVENTS, ITEMS, W, SPEC, times=[D + 2 * DAY_MS, D + 3 * DAY_MS])
    rows = {(r["item_id"], r["as_of"]): r["label"] for r in ex.to_dicts()}
    # at D+2d: u touched a and b in the last 2 days; a is bought 1 day later
    assert rows[("a", D + 2 * DAY_MS)] == 1
    assert rows[("b", D + 2 * DAY_MS)] == 0
    # at D+3d: a's view left the 2-day window, so a is no candidate; b still is
    assert ("a", D + 3 * DAY_MS) not in rows
    assert rows[("b", D + 3 * DAY_MS)] == 0
    assert set(ex["user_id"]) == {"u"}


def test_a_log_shorter_than_window_plus_horizon_is_refused_with_the_numbers() -> None:
    with pytest.raises(ValidationFailedError, match=r"spans 1\.0 days.*at least 4\.0"):
        cutoffs(EVENTS.head(2), W, SPEC)
