"""Splits: ratios per user, whole pairs per part, seeded, per-user temporal order, min-train,
and the temporal leakage guards."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from tastemaker.errors import DataLeakageError, ValidationFailedError
from tastemaker.evaluation.splits import (
    DEFAULT_SPLIT,
    SplitKind,
    SplitSpec,
    assert_no_leakage,
    assert_user_order,
    leave_last_n_out,
    make_split,
    random_split,
    temporal_split,
    temporal_user_split,
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


# --- per-user temporal, fractions, min-train, the kind choice -------------------------


def per_user(inter: Interactions) -> np.ndarray:
    """Events per user (log rows, repeats included)."""
    counts = inter.log.group_by("user").len()
    out = np.zeros(inter.n_users, dtype=np.int64)
    out[counts["user"].to_numpy()] = counts["len"].to_numpy()
    return out


def test_temporal_user_holds_out_each_users_last_fifth_by_time() -> None:
    inter = sample(repeats=False)  # 50 users x 20 events
    split = temporal_user_split(inter, test_fraction=0.2)
    assert split.kind == "temporal-user" and split.validation is None
    assert (per_user(split.test) == 4).all() and (per_user(split.train) == 16).all()
    last_train = split.train.log.group_by("user").agg(pl.col("timestamp").max().alias("t"))
    first_test = split.test.log.group_by("user").agg(pl.col("timestamp").min().alias("f"))
    joined = last_train.join(first_test, on="user")
    assert joined.height == 50 and (joined["t"] <= joined["f"]).all()


def test_temporal_user_validation_sits_between_train_and_test() -> None:
    split = temporal_user_split(sample(repeats=False), test_fraction=0.2, valid_fraction=0.1)
    assert split.validation is not None
    assert (per_user(split.validation) == 2).all() and (per_user(split.train) == 14).all()
    for earlier, later in ((split.train, split.validation), (split.validation, split.test)):
        last = earlier.log.group_by("user").agg(pl.col("timestamp").max().alias("t"))
        first = later.log.group_by("user").agg(pl.col("timestamp").min().alias("f"))
        assert (last.join(first, on="user").select(pl.col("t") <= pl.col("f"))).to_series().all()


def test_temporal_user_keeps_one_event_users_in_training_and_tests_two_event_users() -> None:
    inter = Interactions.from_arrays(
        np.array([0, 1, 1, 2, 2, 2]),
        np.array([0, 0, 1, 0, 1, 2]),
        timestamps=np.array([5, 1, 2, 1, 2, 3]) * 1000,
        n_items=3,
    )
    split = temporal_user_split(inter, test_fraction=0.2)
    assert per_user(split.train).tolist() == [1, 1, 2]
    assert per_user(split.test).tolist() == [0, 1, 1]  # at least one test event from 2 events
    assert split.test.log.sort("user")["item"].to_list() == [1, 2]  # the latest ones


def test_leakage_guard_refuses_a_user_whose_test_starts_before_training_ends() -> None:
    split = temporal_user_split(sample(repeats=False))
    early = split.test.log.head(1).with_columns(pl.col("timestamp").dt.offset_by("-1000d"))
    with pytest.raises(DataLeakageError, match="leaks the future"):
        assert_user_order(split.train, split.test.with_log(pl.concat([split.test.log, early])))


def test_make_split_random_fractions_give_80_10_10() -> None:
    split = make_split(sample(repeats=False), "random", test_fraction=0.1, valid_fraction=0.1)
    assert split.validation is not None and split.kind == "random"
    assert (np.diff(split.train.matrix.indptr) == 16).all()
    assert (np.diff(split.test.matrix.indptr) == 2).all()


def test_min_train_drops_and_counts_users_with_short_histories() -> None:
    rng = np.random.default_rng(1)
    sizes = np.where(np.arange(30) < 10, 3, 20)  # 10 users with 3 events, 20 with 20
    users = np.repeat(np.arange(30), sizes)
    items = np.concatenate([rng.choice(100, n, replace=False) for n in sizes])
    ts = np.arange(len(users)) * 1000
    inter = Interactions.from_arrays(users, items, timestamps=ts, n_items=100)
    split = make_split(inter, SplitKind.temporal_user, min_train=5)
    assert split.dropped_users == 10
    assert set(split.test.log["user"].unique().to_list()) == set(range(10, 30))
    assert make_split(inter, SplitKind.temporal_user).dropped_users == 0


def test_unknown_split_lists_the_choices() -> None:
    with pytest.raises(ValidationFailedError, match="temporal-user, random, leave-last, temporal"):
        make_split(sample(), "temporal_users")


def test_fractions_must_leave_training() -> None:
    with pytest.raises(ValidationFailedError, match="leave some training"):
        make_split(sample(), "random", test_fraction=0.6, valid_fraction=0.5)


def test_leave_last_with_validation_fraction_holds_out_n_more() -> None:
    split = make_split(sample(repeats=False), "leave-last", n=2, valid_fraction=0.1)
    assert split.validation is not None
    assert (np.diff(split.validation.matrix.indptr) == 2).all()
    assert (np.diff(split.test.matrix.indptr) == 2).all()


def test_split_spec_defaults_to_each_users_last_fifth() -> None:
    spec = SplitSpec()
    assert spec.kind is DEFAULT_SPLIT is SplitKind.temporal_user and spec.test_fraction == 0.2
    split = spec.make(sample(repeats=False))
    assert split.test.log.height == 50 * 4


def test_a_split_says_what_it_was_asked_for() -> None:
    split = make_split(sample(repeats=False), "temporal-user", valid_fraction=0.1, min_train=3)
    assert split.options == {"test": 0.2, "valid": 0.1, "min_train": 3}
    assert "test=0.2 valid=0.1 min_train=3" in split.describe()
    assert make_split(sample(), "leave-last", n=2).options == {"n": 2, "min_train": 1}
