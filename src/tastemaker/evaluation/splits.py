"""Train / test (/ validation) splits of interactions, with a leakage guard for time.

Four kinds (:class:`SplitKind`): ``temporal-user`` (each user's last fraction of events by
time; the default, it evaluates nearly every user), ``random`` (per-user random fractions),
``leave-last`` (each user's last N items) and ``temporal`` (one global time cutoff).
Random and leave-last splits assign whole user-item pairs (every event of a pair goes
to the same part), so a repeated view cannot leak a test pair into training; the temporal
kinds cut events by time (a pair seen again later is no test item: relevance excludes
pairs already in training). ``min_train`` keeps users with fewer training pairs out of
the evaluated parts and counts them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

import numpy as np
import polars as pl
import scipy.sparse as sp

from tastemaker.errors import DataLeakageError, ValidationFailedError
from tastemaker.models.holdout import assign_parts, pair_ranks, random_holdout
from tastemaker.models.interactions import Interactions


class SplitKind(StrEnum):
    """The splits ``evaluate`` and ``tune`` offer (values are the CLI spellings)."""

    temporal_user = "temporal-user"
    random = "random"
    leave_last = "leave-last"
    temporal = "temporal"


DEFAULT_SPLIT = SplitKind.temporal_user


@dataclass
class Split:
    """The parts of a split, all over the same vocabularies.

    ``dropped_users`` counts users taken out of the test part by ``min_train``;
    ``source`` names where a split read from files came from; ``options`` holds what
    :func:`make_split` was asked for (fractions, ``n``, ``min_train``), for the record.
    """

    train: Interactions
    test: Interactions
    validation: Interactions | None = None
    kind: str = "random"
    cutoff: datetime | None = None
    seed: int | None = None
    dropped_users: int = 0
    source: str = ""
    options: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for reports: kind, sizes, options (fractions, min-train), cutoff, seed."""
        extra = "".join(f" {k}={v}" for k, v in self.options.items())
        extra += f" cutoff={self.cutoff.isoformat()}" if self.cutoff else ""
        extra += f" seed={self.seed}" if self.seed is not None else ""
        extra += f" from {self.source}" if self.source else ""
        val = f" validation={self.validation.log.height}" if self.validation is not None else ""
        return f"{self.kind}: train={self.train.log.height} test={self.test.log.height}{val}{extra}"

    def excluded(self) -> sp.csr_matrix:
        """Pairs never ranked nor counted relevant at test time: training and validation."""
        seen = self.train.seen()
        if self.validation is not None:
            seen = sp.csr_matrix(seen + self.validation.seen())
        return seen


def assert_no_leakage(train: Interactions, cutoff: datetime) -> None:
    """Refuse a temporal training set holding any interaction at or after ``cutoff``.

    Raises:
        DataLeakageError: with the number of offending rows and the latest timestamp.
    """
    ts = train.log["timestamp"]
    late = train.log.filter(ts >= cutoff)
    if late.height:
        raise DataLeakageError(
            f"temporal split leaks the future: {late.height} training interaction(s) at or after"
            f" the cutoff {cutoff.isoformat()} (latest {late['timestamp'].max()!s})",
            field="timestamp",
        )


def random_split(
    inter: Interactions, ratios: Sequence[float] = (0.75, 0.25), *, seed: int = 0
) -> Split:
    """Per-user stratified random split (Microsoft Recommenders' ``python_stratified_split``).

    Each user's pairs are shuffled and cut at ``round(cumsum(ratios) x n)``. Two ratios
    give train/test; three give train/validation/test (e.g. 0.8, 0.1, 0.1). The hybrid
    model carves its validation part with the same function (``random_holdout``).

    Raises:
        ValidationFailedError: not 2 or 3 positive ratios.
    """
    parts = random_holdout(inter, ratios, seed=seed)
    if len(parts) == 3:
        return Split(parts[0], parts[2], parts[1], kind="random", seed=seed)
    return Split(parts[0], parts[1], kind="random", seed=seed)


def leave_last_n_out(inter: Interactions, n: int = 1, *, validation: bool = False) -> Split:
    """Each user's ``n`` most recent items go to test (and the ``n`` before to validation).

    Users with too few items keep everything in training.
    """
    pairs = pair_ranks(inter, 0, order_by_time=True)
    need = n * (2 if validation else 1)
    enough = pl.col("count") > need
    part = (
        pl.when(enough & (pl.col("rank") < n))
        .then(pl.lit(2 if validation else 1))
        .when(enough & (pl.col("rank") < need))
        .then(pl.lit(1))
        .otherwise(pl.lit(0))
    )
    parts = assign_parts(
        inter, pairs.with_columns(part.cast(pl.Int32).alias("part")), 3 if validation else 2
    )
    if validation:
        return Split(parts[0], parts[2], parts[1], kind="leave-last", seed=None)
    return Split(parts[0], parts[1], kind="leave-last", seed=None)


def temporal_split(
    inter: Interactions,
    cutoff: datetime | None = None,
    *,
    test_fraction: float = 0.2,
    validation_fraction: float = 0.0,
) -> Split:
    """Global time split: train strictly before ``cutoff``, test at or after it.

    Without ``cutoff``, the cutoff is the timestamp quantile leaving ``test_fraction`` of
    events for test. With ``validation_fraction``, the last part of the training period
    becomes validation (the guard is applied to that inner cutoff too).

    Raises:
        ValidationFailedError: events without timestamps.
        DataLeakageError: never for this function's own output (the guard re-checks it).
    """
    ts = inter.log["timestamp"]
    if inter.log.height == 0 or ts.null_count():
        raise ValidationFailedError("a temporal split needs a timestamp on every interaction")
    if cutoff is None:
        cutoff = _quantile_time(ts, 1.0 - test_fraction)
    train = inter.with_log(inter.log.filter(pl.col("timestamp") < cutoff))
    test = inter.with_log(inter.log.filter(pl.col("timestamp") >= cutoff))
    validation = None
    if validation_fraction > 0:
        inner = _quantile_time(train.log["timestamp"], 1.0 - validation_fraction)
        validation = train.with_log(train.log.filter(pl.col("timestamp") >= inner))
        train = train.with_log(train.log.filter(pl.col("timestamp") < inner))
        assert_no_leakage(train, inner)
    assert_no_leakage(train, cutoff)
    return Split(train, test, validation, kind="temporal", cutoff=cutoff)


def _quantile_time(ts: pl.Series, q: float) -> datetime:
    ms = np.quantile(ts.dt.epoch("ms").to_numpy(), q, method="higher")
    return datetime.fromtimestamp(int(ms) / 1000, tz=UTC)


def _user_counts(
    n: pl.Expr, test_fraction: float, valid_fraction: float
) -> tuple[pl.Expr, pl.Expr]:
    """Per-user sizes of test and validation for ``n`` events: ``round(n x fraction)``, at
    least one when the fraction is positive and the user has two events (three with a
    validation part), never leaving training empty (validation gives way first)."""
    test = (n * test_fraction).round(0).cast(pl.Int64)
    if test_fraction > 0:
        test = pl.when(n >= 2).then(pl.max_horizontal(test, pl.lit(1))).otherwise(pl.lit(0))
    test = pl.min_horizontal(test, pl.max_horizontal(n - 1, pl.lit(0)))
    valid = (n * valid_fraction).round(0).cast(pl.Int64)
    if valid_fraction > 0:
        valid = pl.when(n >= 3).then(pl.max_horizontal(valid, pl.lit(1))).otherwise(pl.lit(0))
    valid = pl.min_horizontal(valid, pl.max_horizontal(n - 1 - test, pl.lit(0)))
    return test, valid


def temporal_user_split(
    inter: Interactions, test_fraction: float = 0.2, valid_fraction: float = 0.0
) -> Split:
    """Per-user temporal split: each user's last ``test_fraction`` of events (by time) is
    test, the ``valid_fraction`` before it validation, the rest training.

    Events are ordered by timestamp, then item (ties are cut deterministically), so every
    test event of a user is at or after all of that user's training events. Sizes follow
    :func:`_user_counts`: a user with two events or more always has a test event.

    Raises:
        ValidationFailedError: events without timestamps, or fractions outside [0, 1).
        DataLeakageError: never for this function's own output (the guard re-checks it).
    """
    _check_fractions(test_fraction, valid_fraction)
    if inter.log["timestamp"].null_count():
        raise ValidationFailedError("a temporal split needs a timestamp on every interaction")
    n_test, n_valid = _user_counts(pl.len().over("user"), test_fraction, valid_fraction)
    pos = pl.int_range(pl.len()).over("user")
    n_train = pl.len().over("user") - n_test - n_valid
    part = pl.when(pos < n_train).then(0).when(pos < n_train + n_valid).then(1).otherwise(2)
    tagged = inter.log.sort("user", "timestamp", "item", maintain_order=True).with_columns(
        part.cast(pl.Int32).alias("part")
    )
    train, valid, test = (
        inter.with_log(tagged.filter(pl.col("part") == p).drop("part")) for p in range(3)
    )
    assert_user_order(train, test)
    if valid_fraction > 0:
        assert_user_order(train, valid)
        assert_user_order(valid, test)
    return Split(train, test, valid if valid_fraction > 0 else None, kind="temporal-user")


def assert_user_order(earlier: Interactions, later: Interactions) -> None:
    """Refuse a per-user temporal split where a user's ``later`` part starts before the end
    of their ``earlier`` part.

    Raises:
        DataLeakageError: with the number of users whose parts overlap in time.
    """
    last = earlier.log.group_by("user").agg(pl.col("timestamp").max().alias("last"))
    first = later.log.group_by("user").agg(pl.col("timestamp").min().alias("first"))
    bad = last.join(first, on="user").filter(pl.col("first") < pl.col("last"))
    if bad.height:
        raise DataLeakageError(
            f"per-user temporal split leaks the future: {bad.height} user(s) have a held-out"
            " event earlier than one of their training events",
            field="timestamp",
        )


def _check_fractions(test_fraction: float, valid_fraction: float) -> None:
    if not 0 < test_fraction < 1 or not 0 <= valid_fraction < 1:
        raise ValidationFailedError(
            f"test fraction must be in (0, 1) and validation fraction in [0, 1); got"
            f" {test_fraction} and {valid_fraction}",
            field="test_fraction",
        )
    if test_fraction + valid_fraction >= 1:
        raise ValidationFailedError(
            f"test + validation fractions must leave some training: {test_fraction} +"
            f" {valid_fraction} >= 1",
            field="valid_fraction",
        )


def apply_min_train(split: Split, min_train: int) -> Split:
    """Take users with fewer than ``min_train`` training pairs out of the test part.

    They are not evaluated; ``split.dropped_users`` counts those who had a test event.
    """
    train_pairs = np.diff(split.train.matrix.indptr)
    tested = np.unique(split.test.log["user"].to_numpy())
    short = tested[train_pairs[tested] < min_train]
    if not len(short):
        return split
    kept = split.test.log.filter(~pl.col("user").is_in(short.tolist()))
    split.test = split.test.with_log(kept)
    split.dropped_users += len(short)
    return split


@dataclass(frozen=True)
class SplitSpec:
    """How to split: the kind and its options (see :func:`make_split`)."""

    kind: SplitKind = DEFAULT_SPLIT
    test_fraction: float = 0.2
    valid_fraction: float = 0.0
    n: int = 1
    min_train: int = 1

    def make(self, inter: Interactions, seed: int = 0) -> Split:
        """Split ``inter`` as this spec says (``seed`` drives the random kind)."""
        return make_split(
            inter, self.kind, seed=seed, test_fraction=self.test_fraction,
            valid_fraction=self.valid_fraction, n=self.n, min_train=self.min_train,
        )  # fmt: skip


def make_split(
    inter: Interactions,
    kind: str,
    *,
    seed: int = 0,
    ratios: Sequence[float] | None = None,
    test_fraction: float = 0.2,
    valid_fraction: float = 0.0,
    n: int = 1,
    min_train: int = 1,
) -> Split:
    """Split ``inter`` by ``kind`` (a :class:`SplitKind` value) and apply ``min_train``.

    Args:
        inter: the interactions.
        kind: ``temporal-user``, ``random``, ``leave-last`` or ``temporal``.
        seed: seed of the random split (recorded on every split).
        ratios: explicit random ratios (2 or 3); default ``(1 - t - v, [v,] t)`` from the
            fractions.
        test_fraction: share of each user's events (temporal-user), pairs (random) or of
            all events by time (temporal) held out for test.
        valid_fraction: share held out for validation before the test part (0 = none);
            leave-last holds out ``n`` more items when positive.
        n: items per user held out by leave-last.
        min_train: users with fewer training pairs are not evaluated (counted as dropped).

    Raises:
        ValidationFailedError: an unknown kind or fractions that leave no training.
    """
    _check_fractions(test_fraction, valid_fraction)
    split = _split_by_kind(inter, _kind(kind), seed, ratios, test_fraction, valid_fraction, n)
    split.seed = seed
    split.options = _options(_kind(kind), test_fraction, valid_fraction, n, min_train)
    return apply_min_train(split, min_train)


def _options(
    kind: SplitKind, test_fraction: float, valid_fraction: float, n: int, min_train: int
) -> dict[str, float]:
    """The options that shaped a split of ``kind`` (leave-last counts items, not shares)."""
    out: dict[str, float] = {"n": n} if kind is SplitKind.leave_last else {"test": test_fraction}
    if valid_fraction > 0:
        out["valid"] = valid_fraction
    return {**out, "min_train": min_train}


def _kind(kind: str) -> SplitKind:
    try:
        return SplitKind(kind.replace("_", "-"))
    except ValueError:
        choices = ", ".join(k.value for k in SplitKind)
        raise ValidationFailedError(
            f"unknown split '{kind}' (choose {choices})", field="split"
        ) from None


def _split_by_kind(
    inter: Interactions,
    kind: SplitKind,
    seed: int,
    ratios: Sequence[float] | None,
    test_fraction: float,
    valid_fraction: float,
    n: int,
) -> Split:
    if kind is SplitKind.temporal_user:
        return temporal_user_split(inter, test_fraction, valid_fraction)
    if kind is SplitKind.random:
        if ratios is None:
            train = 1.0 - test_fraction - valid_fraction
            v = (valid_fraction,) if valid_fraction > 0 else ()
            ratios = (train, *v, test_fraction)
        return random_split(inter, ratios, seed=seed)
    if kind is SplitKind.temporal:
        return temporal_split(
            inter, test_fraction=test_fraction, validation_fraction=valid_fraction
        )
    return leave_last_n_out(inter, n, validation=valid_fraction > 0)
