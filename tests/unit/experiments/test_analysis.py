"""The whole analysis on one synthetic experiment with known answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from scipy import stats

from tastemaker.errors import ValidationFailedError
from tastemaker.experiments.analysis import AnalysisResult, MetricInput, analyze, metric_input
from tastemaker.experiments.metrics import BUILTIN_METRICS, metric_values
from tastemaker.experiments.stats import Guardrail

N = 5_000
WEIGHTS = {"control": 0.5, "b": 0.5}


def _experiment(seed: int = 0, n_b: int = N) -> list[MetricInput]:
    rng = np.random.default_rng(seed)
    sizes = {"control": N, "b": n_b}
    conv = {k: (rng.random(n) < (0.05 if k == "control" else 0.07)).astype(float)
            for k, n in sizes.items()}  # fmt: skip
    pre = {k: rng.normal(10, 3, n) for k, n in sizes.items()}
    spend = {k: 10 + 0.8 * (pre[k] - 10) + rng.normal(0, 1.8, pre[k].size) for k in pre}
    impressions = {k: 1.0 + rng.poisson(5, n) for k, n in sizes.items()}
    clicks = {k: rng.binomial(impressions[k].astype(int), 0.1).astype(float) for k in sizes}
    latency = {k: rng.normal(100, 10, n) for k, n in sizes.items()}
    return [
        MetricInput("conversion", "proportion", conv, role="primary"),
        MetricInput("spend", "mean", spend, pre_values=pre),
        MetricInput("ctr", "ratio", clicks, denominators=impressions),
        MetricInput("latency", "mean", latency, role="guardrail",
                    guardrail=Guardrail(better="lower", tolerance=0.02)),
    ]  # fmt: skip


def _by_metric(result: AnalysisResult) -> dict:
    return {r.metric: r for r in result.results}


def test_each_metric_gets_the_test_that_fits_it() -> None:
    metrics = _experiment()
    result = _by_metric(analyze(metrics, WEIGHTS, "control"))
    assert {k: r.comparison.test for k, r in result.items()} == {
        "conversion": "two_proportion_z", "spend": "welch_t", "ctr": "z_delta",
        "latency": "welch_t"}  # fmt: skip
    conv = metrics[0].values
    _, p = stats.ttest_ind(conv["b"], conv["control"], equal_var=False)
    assert result["conversion"].comparison.p_value < 0.001 and p < 0.001  # a 2-point lift


def test_cuped_is_on_for_a_metric_with_pre_period_values_and_narrows_it() -> None:
    metrics = _experiment()
    with_cuped = _by_metric(analyze(metrics, WEIGHTS, "control"))["spend"]
    without = _by_metric(analyze(metrics, WEIGHTS, "control", cuped=False))["spend"]
    width = lambda r: r.comparison.abs_high - r.comparison.abs_low  # noqa: E731
    assert with_cuped.cuped and not without.cuped
    assert width(with_cuped) < 0.7 * width(without)  # rho = 0.8: about 0.6 of the width


def test_holm_adjusts_secondaries_only_and_guardrails_get_a_verdict() -> None:
    result = _by_metric(analyze(_experiment(), WEIGHTS, "control"))
    assert result["conversion"].holm_p is None and result["latency"].holm_p is None
    raw = sorted([result["spend"].comparison.p_value, result["ctr"].comparison.p_value])
    adjusted = sorted([result["spend"].holm_p, result["ctr"].holm_p])
    assert adjusted[0] == pytest.approx(min(1.0, 2 * raw[0]))
    assert result["latency"].verdict == "pass"  # same latency, 2% tolerance, 5,000 users


def test_a_sample_ratio_mismatch_marks_the_result_untrustworthy() -> None:
    assert analyze(_experiment(), WEIGHTS, "control").trustworthy
    skewed = analyze(_experiment(n_b=4_000), WEIGHTS, "control")
    assert not skewed.trustworthy and skewed.srm.mismatch
    assert skewed.to_dict()["trustworthy"] is False


def test_the_result_is_json_ready() -> None:
    out = analyze(_experiment(), WEIGHTS, "control").to_dict()
    text = json.dumps(out, allow_nan=False)
    row = json.loads(text)["results"][0]
    assert set(row) >= {"value", "abs_diff", "abs_ci", "rel_diff", "rel_ci", "p_value",
                        "cuped", "holm_p", "guardrail", "sequential_p"}  # fmt: skip
    assert 0.0 <= row["sequential_p"] <= 1.0


def test_the_sequential_p_value_is_more_cautious_than_the_fixed_horizon_one() -> None:
    for r in analyze(_experiment(), WEIGHTS, "control").results:
        assert r.sequential_p >= r.comparison.p_value


def test_inconsistent_inputs_are_rejected() -> None:
    metrics = _experiment()
    with pytest.raises(ValidationFailedError):
        analyze(metrics, WEIGHTS, "nope")
    with pytest.raises(ValidationFailedError):
        analyze([metrics[0], _experiment(n_b=10)[1]], WEIGHTS, "control")
    with pytest.raises(ValidationFailedError):
        analyze([MetricInput("ctr", "ratio", metrics[2].values)], WEIGHTS, "control")


def test_metric_frames_from_the_event_log_feed_the_analysis() -> None:
    rng = np.random.default_rng(5)
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    users = [f"u{i}" for i in range(400)]
    exposures = pl.DataFrame({"user_id": users, "variant": ["control", "b"] * 200,
                              "exposed_at": [t0] * 400})  # fmt: skip
    n_events = 3_000
    kinds = rng.choice(["purchase", "impression", "click", "view"], n_events)
    events = pl.DataFrame({
        "event_id": [str(i) for i in range(n_events)],
        "user_id": rng.choice(users, n_events), "type": kinds,
        "value": np.where(kinds == "purchase", 20.0, 0.0),
        "timestamp": [t0 + timedelta(hours=float(h)) for h in rng.uniform(-100, 200, n_events)],
        "session_id": rng.choice(["s1", "s2"], n_events), "properties": None,
    })  # fmt: skip
    end = t0 + timedelta(days=7)
    inputs = [metric_input(spec, metric_values(events, exposures, spec, end=end))
              for spec in BUILTIN_METRICS]  # fmt: skip
    result = analyze(inputs, WEIGHTS, "control")
    by_name = _by_metric(result)
    conversion = metric_values(events, exposures, BUILTIN_METRICS[0], end=end)
    control_rate = conversion.filter(pl.col("variant") == "control")["value"].mean()
    assert by_name["conversion"].comparison.control == pytest.approx(control_rate)
    assert by_name["conversion"].cuped and not by_name["ctr"].cuped  # pre-period purchases
    assert result.trustworthy and len(result.results) == len(BUILTIN_METRICS)


def test_a_metric_without_data_gets_a_null_row_with_a_note_and_the_rest_is_analysed() -> None:
    metrics = _experiment()
    sizes = {k: np.size(v) for k, v in metrics[0].values.items()}
    no_revenue = {k: np.zeros(n) for k, n in sizes.items()}
    clicks = {k: np.zeros(n) for k, n in sizes.items()}
    impressions = {"control": np.ones(sizes["control"]), "b": np.zeros(sizes["b"])}
    extra = [
        MetricInput("revenue", "mean", no_revenue, pre_values=no_revenue),
        MetricInput("ctr2", "ratio", clicks, denominators=impressions),
        MetricInput("refunds", "mean", no_revenue, role="guardrail", guardrail=Guardrail()),
    ]
    full = _by_metric(analyze(metrics, WEIGHTS, "control"))
    result = analyze(metrics + extra, WEIGHTS, "control")
    rows = {r["metric"]: r for r in json.loads(json.dumps(result.to_dict(), allow_nan=False))[
        "results"]}  # fmt: skip
    for name in ("revenue", "ctr2", "refunds"):
        row = rows[name]
        assert row["value"] is None and row["control_value"] is None and row["p_value"] is None
        assert row["abs_ci"] == [None, None] and row["rel_ci"] == [None, None]
        assert row["sequential_p"] is None and row["holm_p"] is None
    assert "no events of this metric" in rows["revenue"]["note"]
    assert rows["ctr2"]["note"] == "no denominator events in the window for b"
    assert rows["refunds"]["guardrail"] == "inconclusive"
    # the metrics with data are as without the empty ones (Holm over the same two secondaries)
    for name, r in full.items():
        assert rows[name]["note"] is None
        assert rows[name]["p_value"] == pytest.approx(float(r.comparison.p_value), rel=1e-12)
        assert rows[name]["holm_p"] == (None if r.holm_p is None else pytest.approx(r.holm_p))


def test_an_arm_with_too_few_users_is_a_note_not_a_failure() -> None:
    metrics = [
        MetricInput(
            "conversion", "proportion", {"control": np.array([0.0, 1.0, 1.0]), "b": np.array([1.0])}
        )
    ]
    row = analyze(metrics, WEIGHTS, "control").results[0]
    assert row.note == "'b' has 1 user(s) here; at least 2 are needed"
    assert row.to_dict()["value"] is None
    nobody = [MetricInput("conversion", "proportion", {"control": np.array([0.0, 1.0, 1.0])})]
    empty = analyze(nobody, WEIGHTS, "control")  # a subgroup without any treated user
    assert empty.results[0].note == "'b' has 0 user(s) here; at least 2 are needed"
    assert empty.srm.observed == {"control": 3, "b": 0}


def test_the_confidence_sequence_holds_the_difference_and_is_wider_than_one_look() -> None:
    for r in analyze(_experiment(), WEIGHTS, "control").results:
        low, high = r.sequential_ci
        c = r.comparison
        assert low < float(c.abs_diff) < high
        assert low < float(c.abs_low) and float(c.abs_high) < high
        assert (low + high) / 2 == pytest.approx(float(c.abs_diff), rel=1e-9)
        # the interval excludes 0 exactly when the always-valid p is below alpha
        assert (low > 0 or high < 0) == (r.sequential_p < 0.05)
