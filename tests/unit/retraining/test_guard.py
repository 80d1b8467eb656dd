"""The promotion guard on hand-made data: two taste groups, a good and a blind model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from scipy import stats

from tastemaker.config import DEFAULT_EVENT_WEIGHTS, RetrainingConfig
from tastemaker.models.base import Recommender
from tastemaker.models.catalog import make_model
from tastemaker.models.interactions import Interactions
from tastemaker.retraining.guard import (
    HoldoutPeriod,
    compare,
    holdout_period,
    holdout_users,
    parse_metric,
    per_user_metric,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=10)
W = dict(DEFAULT_EVENT_WEIGHTS)


def _events(n_users: int = 60, seed: int = 0) -> pl.DataFrame:
    """Users of group A view items a0..a9, group B b0..b9: 6 views before day 8, 2 after."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        group = "a" if u % 2 else "b"
        items = rng.permutation(10)
        for j, it in enumerate(items[:8]):
            day = j if j < 6 else 8.5 + (j - 6) * 0.5
            rows.append((f"e{u}-{j}", f"u{u}", "view", f"{group}{it}", T0 + timedelta(days=day)))
    return pl.DataFrame(
        rows, schema=["event_id", "user_id", "type", "item_id", "timestamp"], orient="row"
    ).with_columns(pl.col("timestamp").cast(pl.Datetime("ms", "UTC")))


def _fit(name: str, events: pl.DataFrame, **params: object) -> Recommender:
    return make_model(name, **params).fit(Interactions.from_events(events, W))


@pytest.fixture
def period() -> HoldoutPeriod:
    return holdout_period(_events(), NOW, 2.0)


def test_the_holdout_is_the_last_days_before_now(period: HoldoutPeriod) -> None:
    assert period.start == NOW - timedelta(days=2)
    assert period.history["timestamp"].max() < period.start
    assert period.events["timestamp"].min() >= period.start
    assert period.history.height + period.events.height == 60 * 8


def test_evaluated_users_have_a_history_and_a_new_item(period: HoldoutPeriod) -> None:
    users = holdout_users(period, W)
    assert len(users.rows) == 60
    assert users.relevant.sum() == 120  # two new items each


def test_per_user_metric_equals_the_evaluation_metric_on_the_same_lists(
    period: HoldoutPeriod,
) -> None:
    model = _fit("itemknn", period.history)
    users = holdout_users(period, W)
    got = per_user_metric(model, period, users, "recall@5", W)
    # independently: each user's history row, the model's own list, ids compared by id
    hist = Interactions.from_events(period.history, W, users=users.users, items=model.items_)
    rows = users.rows
    recs, _ = model.recommend_from_history(hist.matrix[rows], 5, exclude=hist.seen()[rows])
    ids = np.where(recs >= 0, model.items_.ids[np.clip(recs, 0, None)], None)
    want = []
    for r, row in enumerate(rows):
        seen = set(period.history.filter(pl.col("user_id") == users.users.ids[row])["item_id"])
        later = set(period.events.filter(pl.col("user_id") == users.users.ids[row])["item_id"])
        new = later - seen
        want.append(len(new & {i for i in ids[r] if i is not None}) / len(new))
    np.testing.assert_allclose(got, want)


def test_a_candidate_that_knows_the_groups_beats_popularity(period: HoldoutPeriod) -> None:
    good = _fit("itemknn", period.history)
    blind = _fit("popularity", period.history)
    cfg = RetrainingConfig(metric="ndcg@5", margin=0.01, min_users=10, bootstrap=200)
    up = compare(blind, good, period, cfg, W, ("v0001", "v0002"))
    assert up.verdict == "PROMOTE" and up.users == 60
    assert up.candidate_value > up.live_value and up.low > 0
    assert up.p_worse < 0.05
    down = compare(good, blind, period, cfg, W, ("v0002", "v0003"))
    assert down.verdict == "KEEP" and "may be worse" in down.reason
    assert down.high < 0 and down.diff == pytest.approx(-up.diff)
    # the reported t-test is scipy's paired one-sided test of "worse by more than the margin"
    new = per_user_metric(blind, period, holdout_users(period, W), "ndcg@5", W)
    old = per_user_metric(good, period, holdout_users(period, W), "ndcg@5", W)
    p = stats.ttest_rel(new + 0.01, old, alternative="greater").pvalue
    assert down.p_worse == pytest.approx(p)


def test_an_identical_candidate_is_promoted_within_the_margin(period: HoldoutPeriod) -> None:
    model = _fit("itemknn", period.history)
    cfg = RetrainingConfig(metric="ndcg@5", min_users=10, bootstrap=200)
    same = compare(model, model, period, cfg, W, ("v0001", "v0002"))
    assert same.verdict == "PROMOTE" and same.diff == 0.0


def test_no_live_version_promotes_and_too_few_users_keep(period: HoldoutPeriod) -> None:
    model = _fit("itemknn", period.history)
    first = compare(None, model, period, RetrainingConfig(), W, (None, "v0001"))
    assert first.verdict == "PROMOTE" and "no version is live" in first.reason
    few = compare(model, model, period, RetrainingConfig(min_users=100), W, ("v0001", "v0002"))
    assert few.verdict == "KEEP" and "only 60 holdout user(s)" in few.reason
    assert few.to_dict()["diff"] is None


def test_metric_spelling_is_checked_by_the_configuration() -> None:
    assert parse_metric("hit_rate@20") == ("hit_rate", 20)
    with pytest.raises(ValueError, match="metric"):
        RetrainingConfig(metric="auc@10")
