"""Train / test (/ validation) splits of interactions, with a leakage guard for time.

Random and leave-last splits assign whole user-item pairs (every event of a pair goes
to the same part), so a repeated view cannot leak a test pair into training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import polars as pl

from tastemaker.errors import DataLeakageError, ValidationFailedError
from tastemaker.models.holdout import assign_parts, pair_ranks, random_holdout
from tastemaker.models.interactions import Interactions


@dataclass
class Split:
    """The parts of a split, all over the same vocabularies."""

    train: Interactions
    test: Interactions
    validation: Interactions | None = None
    kind: str = "random"
    cutoff: datetime | None = None
    seed: int | None = None

    def describe(self) -> str:
        """One line for reports: kind, sizes, cutoff or seed."""
        extra = f" cutoff={self.cutoff.isoformat()}" if self.cutoff else f" seed={self.seed}"
        val = f" validation={self.validation.log.height}" if self.validation is not None else ""
        return f"{self.kind}: train={self.train.log.height} test={self.test.log.height}{val}{extra}"


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


def make_split(
    inter: Interactions,
    kind: str,
    *,
    seed: int = 0,
    ratios: Sequence[float] = (0.75, 0.25),
    test_fraction: float = 0.2,
    n: int = 1,
) -> Split:
    """Dispatch on ``kind``: ``random``, ``temporal`` or ``leave-last``."""
    if kind == "random":
        return random_split(inter, ratios, seed=seed)
    if kind == "temporal":
        return temporal_split(inter, test_fraction=test_fraction)
    if kind in ("leave-last", "leave_last"):
        return leave_last_n_out(inter, n)
    raise ValidationFailedError(
        f"unknown split '{kind}' (choose random, temporal or leave-last)", field="split"
    )
