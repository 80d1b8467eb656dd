"""The propensity guard on hand-made examples: a model that learned the signal, a blind one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from scipy import stats
from sklearn.metrics import brier_score_loss, log_loss

from tastemaker.config import RetrainingConfig
from tastemaker.propensity.examples import LabelSpec
from tastemaker.propensity.features import DAY_MS, FEATURE_NAMES
from tastemaker.propensity.holdout import holdout_cutoffs, per_user_loss
from tastemaker.propensity.model import PropensityModel
from tastemaker.propensity.training import PropensityConfig, _config_dict, config_of
from tastemaker.registry.manifest import Manifest
from tastemaker.retraining.guard import HoldoutPeriod, judge
from tastemaker.retraining.propensity_step import compare_propensity

NOW = datetime(2026, 1, 10, tzinfo=UTC)
PERIOD = HoldoutPeriod(NOW - timedelta(days=3), NOW, pl.DataFrame(), pl.DataFrame())
CFG = RetrainingConfig(min_users=20, bootstrap=500)


def _examples(n_users: int, seed: int) -> pl.DataFrame:
    """Five examples per user; the first feature drives the purchase probability."""
    rng = np.random.default_rng(seed)
    n = n_users * 5
    x = rng.normal(size=(n, len(FEATURE_NAMES)))
    y = (rng.random(n) < 1 / (1 + np.exp(-(2.5 * x[:, 0] - 2.0)))).astype(np.int8)
    users = [f"u{i // 5:03d}" for i in range(n)]
    return pl.DataFrame({"user_id": users, "label": y}).hstack(
        pl.DataFrame(x, schema=list(FEATURE_NAMES))
    )


def _fit(frame: pl.DataFrame, *, blind: bool) -> PropensityModel:
    x = frame.select(FEATURE_NAMES).to_numpy()
    y = frame["label"].to_numpy()
    if blind:  # labels shuffled: it learns the base rate and noise
        y = np.random.default_rng(7).permutation(y)
    half = len(y) // 2
    return PropensityModel("logistic", list(FEATURE_NAMES), calibration="none").fit(
        x[:half], y[:half], x[half:], y[half:]
    )


@pytest.fixture(scope="module")
def models() -> tuple[PropensityModel, PropensityModel]:
    train = _examples(400, seed=1)
    return _fit(train, blind=False), _fit(train, blind=True)


@pytest.mark.parametrize("metric", ["log_loss", "brier"])
def test_per_user_loss_is_each_users_mean_of_the_sklearn_metric(
    models: tuple[PropensityModel, PropensityModel], metric: str
) -> None:
    good, _ = models
    held = _examples(30, seed=2)
    users, got = per_user_loss(good, held, metric)
    assert list(users) == sorted(set(held["user_id"]))
    p = good.predict(held.select(FEATURE_NAMES).to_numpy())
    for user, value in zip(users, got, strict=True):
        rows = (held["user_id"] == user).to_numpy()
        y = held["label"].to_numpy()[rows]
        want = (
            log_loss(y, p[rows], labels=[0, 1])
            if metric == "log_loss"
            else brier_score_loss(y, p[rows], pos_label=1)
        )
        assert value == pytest.approx(want, rel=1e-9)


def test_a_candidate_that_learned_the_signal_replaces_a_blind_live_version(
    models: tuple[PropensityModel, PropensityModel],
) -> None:
    good, blind = models
    held = _examples(200, seed=3)
    result = compare_propensity(blind, good, held, PERIOD, CFG, ("v0001", "v0002"))
    assert result.verdict == "PROMOTE" and "not worse" in result.reason
    assert result.lower_is_better and result.metric == "log_loss" and result.users == 200
    assert result.candidate_value < result.live_value and result.high < 0


def test_a_blind_candidate_is_kept_out_with_the_figures(
    models: tuple[PropensityModel, PropensityModel],
) -> None:
    good, blind = models
    held = _examples(200, seed=3)
    result = compare_propensity(good, blind, held, PERIOD, CFG, ("v0001", "v0002"))
    assert result.verdict == "KEEP" and "may be worse, the live version stays" in result.reason
    assert result.low > CFG.propensity_margin  # worse beyond the margin
    _, old = per_user_loss(good, held, "log_loss")
    _, new = per_user_loss(blind, held, "log_loss")
    assert result.diff == pytest.approx(float(np.mean(new - old)))
    assert result.candidate_value == pytest.approx(float(new.mean()))


def test_too_few_held_out_users_keep_the_live_version(
    models: tuple[PropensityModel, PropensityModel],
) -> None:
    good, blind = models
    held = _examples(10, seed=4)
    result = compare_propensity(blind, good, held, PERIOD, CFG, ("v0001", "v0002"))
    assert result.verdict == "KEEP" and result.users == 10 and "too few" in result.reason


def test_judge_reads_a_loss_by_the_upper_end_against_plus_margin() -> None:
    rng = np.random.default_rng(0)
    old = rng.gamma(2.0, 0.05, size=300)
    base = {"metric": "log_loss", "live": "a", "candidate": "b", "margin": 0.01}
    slightly_worse = old + 0.002 + rng.normal(0, 0.001, 300)  # within the margin
    ok = judge(slightly_worse, old, 0.01, 500, base, lower_is_better=True)
    assert ok.verdict == "PROMOTE" and ok.low > 0 and ok.high < 0.01
    much_worse = old + 0.03 + rng.normal(0, 0.01, 300)
    bad = judge(much_worse, old, 0.01, 500, base, lower_is_better=True)
    assert bad.verdict == "KEEP" and bad.high > 0.01
    # p_worse: one-sided paired t-test of H0 "candidate >= live + margin" (scipy directly)
    want = stats.ttest_rel(slightly_worse - 0.01, old, alternative="less").pvalue
    assert ok.p_worse == pytest.approx(want)
    # the same numbers read as "higher is better" decide the other way round
    flipped = judge(old, much_worse, 0.01, 500, base)
    assert flipped.verdict == "KEEP" and flipped.low < -0.01


def test_holdout_cutoffs_fit_their_horizon_inside_the_holdout() -> None:
    times, spec = holdout_cutoffs(0, 3 * DAY_MS, LabelSpec(horizon_days=2, step_days=1))
    assert times == [0, DAY_MS] and spec.horizon_days == 2
    times, spec = holdout_cutoffs(0, 3 * DAY_MS, LabelSpec(horizon_days=7, step_days=1))
    assert times == [0] and spec.horizon_days == 3  # shortened to the holdout


def test_a_retrain_repeats_the_live_versions_training_choices() -> None:
    cfg = PropensityConfig(model="logistic", test_days=4, labels=LabelSpec(2.0, 0.5), seed=3)
    manifest = Manifest(
        version="v0001", created_at="2026-01-01T00:00:00Z", model="propensity-logistic",
        params=_config_dict(cfg),
    )  # fmt: skip
    assert config_of(manifest) == cfg
