"""Splits: ratios per user, whole pairs per part, seeded, and the temporal leakage guard."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from tastemaker.errors import DataLeakageError
from tastemaker.evaluation.splits import (
    assert_no_leakage,
    leave_last_n_out,
    random_split,
    temporal_split,
)
from tastemaker.models.interactions import Interactions


def sample(n_users: int = 50, per_user: int = 20, repeats: bool = True) -> Interactions:
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(n_users), per_user)
    items = np.concatenate([rng.choice(200, per_user, replace=False) for _ in range(n_users)])
    ts = 1_700_000_000_000 + rng.integers(0, 90 * 86_400_000, len(users))
    if repeats:  # the same pair seen twice must never straddle train and test
        users, items, ts = (np.concatenate([a, a[:200]]) for a in (users, items, ts))
    return Interactions.from_arrays(users, items, timestamps=ts, n_items=200)


def pairs(inter: Interactions) -> set[tuple[int, int]]:
    return set(map(tuple, inter.log.select("user", "item").unique().to_numpy().tolist()))


def test_random_split_75_25_per_user() -> None:
    inter = sample()
    split = random_split(inter, (0.75, 0.25), seed=3)
    train_counts = np.diff(split.train.matrix.indptr)
    test_counts = np.diff(split.test.matrix.indptr)
    assert (train_counts == 15).all() and (test_counts == 5).all()
    assert not pairs(split.train) & pairs(split.test)
    assert split.train.log.height + split.test.log.height == inter.log.height


def test_random_split_80_10_10_has_validation() -> None:
    split = random_split(sample(), (0.8, 0.1, 0.1), seed=1)
    assert split.validation is not None
    assert (np.diff(split.train.matrix.indptr) == 16).all()
    assert (np.diff(split.validation.matrix.indptr) == 2).all()
    assert (np.diff(split.test.matrix.indptr) == 2).all()
    assert not pairs(split.validation) & (pairs(split.train) | pairs(split.test))


def test_random_split_is_seeded() -> None:
    inter = sample()
    a, b, c = (random_split(inter, seed=s) for s in (5, 5, 6))
    assert pairs(a.test) == pairs(b.test)
    assert pairs(a.test) != pairs(c.test)


def test_temporal_split_respects_the_cutoff() -> None:
    inter = sample()
    split = temporal_split(inter, test_fraction=0.2)
    assert split.cutoff is not None
    assert split.train.log["timestamp"].max() < split.cutoff  # type: ignore[operator]
    assert split.test.log["timestamp"].min() >= split.cutoff  # type: ignore[operator]
    assert split.test.log.height == pytest.approx(0.2 * inter.log.height, rel=0.05)


def test_leakage_guard_refuses_a_planted_future_event() -> None:
    inter = sample()
    split = temporal_split(inter, test_fraction=0.2)
    assert split.cutoff is not None
    future = split.test.log.head(1)
    planted = split.train.with_log(pl.concat([split.train.log, future]))
    with pytest.raises(DataLeakageError, match="leaks the future"):
        assert_no_leakage(planted, split.cutoff)
    assert_no_leakage(split.train, split.cutoff)  # the honest split passes


def test_explicit_cutoff() -> None:
    cutoff = datetime(2023, 12, 1, tzinfo=UTC)
    split = temporal_split(sample(), cutoff)
    assert split.cutoff == cutoff
    assert (split.train.log["timestamp"] < cutoff).all()


def test_leave_last_n_out_takes_the_latest_items() -> None:
    inter = sample(repeats=False)
    split = leave_last_n_out(inter, 2)
    assert (np.diff(split.test.matrix.indptr) == 2).all()
    last_train = split.train.log.group_by("user").agg(pl.col("timestamp").max().alias("t"))
    first_test = split.test.log.group_by("user").agg(pl.col("timestamp").min().alias("f"))
    joined = last_train.join(first_test, on="user")
    assert (joined["t"] <= joined["f"]).all()


def test_temporal_split_with_validation_is_guarded_too() -> None:
    split = temporal_split(sample(), test_fraction=0.2, validation_fraction=0.25)
    assert split.validation is not None and split.cutoff is not None
    assert split.train.log["timestamp"].max() < split.validation.log["timestamp"].min()  # type: ignore[operator]
    assert split.validation.log["timestamp"].max() < split.cutoff  # type: ignore[operator]
