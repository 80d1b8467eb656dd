"""Propensity end to end on a small synthetic marketplace: train out of time, save a
version, score online from the profile timeline."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tastemaker.datasets.marketplace import generate_marketplace
from tastemaker.errors import DataLeakageError, NotFoundError, ValidationFailedError
from tastemaker.propensity.examples import LabelSpec
from tastemaker.propensity.features import (
    DAY_MS,
    FEATURE_NAMES,
    PropensityWindows,
    item_events,
    item_stats,
    pair_features,
)
from tastemaker.propensity.model import PROBABILITY_EPS, PropensityModel
from tastemaker.propensity.scorer import PropensityScorer
from tastemaker.propensity.training import (
    PropensityConfig,
    logged_links,
    registry_of,
    split_by_time,
    train_propensity,
)
from tastemaker.schema import ITEM_EVENT_TYPES
from tastemaker.workspace import Workspace

CFG = PropensityConfig(
    model="auto",
    windows=PropensityWindows(user_days=3, item_days=10),
    labels=LabelSpec(horizon_days=2),
    test_days=3,
    calibration_days=3,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, object]]:
    ws = Workspace.init(Path(tmp_path_factory.mktemp("propensity")) / "ws")
    m = generate_marketplace(users=800, items=300, days=21, seed=5)
    ws.ingestor.ingest_items(m.items, "test")
    ws.ingestor.ingest_events(m.events, "test")
    result = train_propensity(ws, CFG)
    yield ws, result
    ws.close()


def test_training_beats_the_base_rate_out_of_time_and_saves_a_version(
    trained: tuple[Workspace, object],
) -> None:
    ws, result = trained
    metrics = result.metrics  # type: ignore[attr-defined]
    chosen = result.model  # type: ignore[attr-defined]
    assert set(metrics) == {"lightgbm", "logistic", "base_rate"}
    assert metrics[chosen]["auc"] == max(metrics["lightgbm"]["auc"], metrics["logistic"]["auc"])
    assert metrics[chosen]["auc_low"] > 0.6
    assert metrics[chosen]["log_loss"] < metrics["base_rate"]["log_loss"]
    registry = registry_of(ws)
    manifest = registry.manifest(result.version)  # type: ignore[attr-defined]
    assert manifest.model == f"propensity-{chosen}"
    assert manifest.metrics["auc"] == pytest.approx(metrics[chosen]["auc"])
    assert manifest.feature_schema["windows"] == {"user_days": 3, "item_days": 10}


def test_slices_never_see_the_next_slices_labels() -> None:
    times = [d * DAY_MS for d in range(20)]
    ex = pl.DataFrame({"as_of": times, "user_id": ["u"] * 20, "label": [0, 1] * 10})
    s = split_by_time(ex, CFG, with_test=True)
    horizon = 2 * DAY_MS
    assert s.fit["as_of"].max() + horizon <= s.calibration["as_of"].min()  # type: ignore[operator]
    assert s.calibration["as_of"].max() + horizon <= s.test["as_of"].min()  # type: ignore[operator]
    with pytest.raises(ValidationFailedError, match="too few"):
        split_by_time(ex.head(6), CFG, with_test=True)
    assert issubclass(DataLeakageError, ValidationFailedError)


def test_an_add_to_cart_a_moment_ago_raises_that_items_probability_at_once(
    trained: tuple[Workspace, object],
) -> None:
    ws, result = trained
    registry_of(ws).promote(result.version)  # type: ignore[attr-defined]
    scorer = PropensityScorer(ws)
    end = int(ws.store.events()["timestamp"].max().timestamp() * 1000)  # type: ignore[union-attr]
    now = end + 60_000
    item = ws.store.items()["item_id"][0]
    before = scorer.score(ws.pseudonymizer.one("shopper-1"), [item], now_ms=now)
    assert before.known_user is False and before.model_version == result.version  # type: ignore[attr-defined]
    base = before.items[0].probability
    ts = pl.Series([now - 120_000, now - 60_000], dtype=pl.Int64).cast(pl.Datetime("ms", "UTC"))
    ws.ingestor.ingest_events(
        pl.DataFrame(
            {
                "event_id": ["p-1", "p-2"],
                "user_id": ["shopper-1", "shopper-1"],
                "type": ["view", "add_to_cart"],
                "item_id": [item, item],
                "value": [120.0, None],
                "timestamp": ts,
            }
        ),
        "test",
    )
    after = scorer.score(ws.pseudonymizer.one("shopper-1"), now_ms=now)
    assert after.known_user is True and [i.item_id for i in after.items] == [item]
    assert after.items[0].probability > base
    assert after.items[0].factors and all(f.feature for f in after.items[0].factors)
    with pytest.raises(NotFoundError, match="'no-such-item' is not in the catalog"):
        scorer.score(ws.pseudonymizer.one("shopper-1"), ["no-such-item"], now_ms=now)


def test_an_answer_for_a_given_time_does_not_depend_on_what_was_asked_before(
    trained: tuple[Workspace, object],
) -> None:
    ws, result = trained
    registry_of(ws).promote(result.version)  # type: ignore[attr-defined]
    events = ws.store.events(types=["add_to_cart"])
    at = int(events["timestamp"].max().timestamp() * 1000)  # type: ignore[union-attr]
    item = events["item_id"].mode()[0]
    user = ws.pseudonymizer.one("u000001")

    fresh = PropensityScorer(ws).score(user, [item], now_ms=at).items[0]
    warmed = PropensityScorer(ws)
    warmed.score(user, [item])  # a live call first caches popularity as of now
    later = warmed.score(user, [item], now_ms=at).items[0]
    assert later.probability == pytest.approx(fresh.probability)
    assert warmed.item_stats(at).filter(pl.col("item_id") == item)["i_carts"][0] > 0


def test_no_probability_is_exactly_zero_or_one(trained: tuple[Workspace, object]) -> None:
    ws, result = trained
    model = PropensityModel.load(registry_of(ws).path(result.version))  # type: ignore[attr-defined]
    width = len(model.feature_names)
    extremes = np.vstack([np.full(width, -1e6), np.zeros(width), np.full(width, 1e6)])
    p = model.predict(extremes)
    assert ((p >= PROBABILITY_EPS) & (p <= 1 - PROBABILITY_EPS)).all(), p


def test_a_model_that_does_not_beat_the_base_rate_is_refused_promotion(
    trained: tuple[Workspace, object],
) -> None:
    _, result = trained
    metrics = dict(result.metrics)  # type: ignore[attr-defined]
    chosen = result.model  # type: ignore[attr-defined]
    base = metrics["base_rate"]
    metrics[chosen] = {**metrics[chosen], "brier": base["brier"] - 1e-6,
                       "log_loss": base["log_loss"] - 1e-6}  # fmt: skip
    better = replace(result, metrics=metrics)  # type: ignore[type-var]
    assert better.promotion_refusal() is None
    metrics[chosen] = {**metrics[chosen], "brier": metrics["base_rate"]["brier"] + 1e-6}
    worse = replace(result, metrics=metrics)  # type: ignore[type-var]
    refusal = worse.promotion_refusal()
    assert refusal is not None and "brier" in refusal and "log_loss" not in refusal


def test_online_scores_equal_the_offline_feature_code_for_any_item_and_time(
    trained: tuple[Workspace, object],
) -> None:
    # one user's answer at past times, the item alone, in the default list and from the
    # training feature code over the whole log and catalog, must be the same number
    ws, result = trained
    registry_of(ws).promote(result.version)  # type: ignore[attr-defined]
    scorer = PropensityScorer(ws)
    version, model = scorer.model()
    log = item_events(ws.store.events(types=sorted(ITEM_EVENT_TYPES)), logged_links(ws))
    carts = log.filter(pl.col("type") == "add_to_cart").sort("ts")
    checked = 0
    for row in carts.slice(carts.height - 400, 400).gather_every(40).iter_rows(named=True):
        user, at = row["user_id"], row["ts"] + 1
        listed = {i.item_id: i.probability for i in scorer.score(user, k=500, now_ms=at).items}
        assert row["item_id"] in listed
        query = pl.DataFrame(
            {"user_id": [user] * len(listed), "item_id": list(listed), "as_of": [at] * len(listed)}
        )
        offline = pair_features(
            query, log, ws.store.items(), item_stats(log, [at], scorer.windows), scorer.windows
        )
        expected = model.predict(offline.select(FEATURE_NAMES).to_numpy().astype(np.float64))
        for item, p in zip(offline["item_id"], expected, strict=True):
            alone = scorer.score(user, [item], now_ms=at).items[0].probability
            assert alone == pytest.approx(p) and listed[item] == pytest.approx(p)
            checked += 1
    assert version == result.version and checked >= 10  # type: ignore[attr-defined]
