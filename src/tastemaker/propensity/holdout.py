"""A propensity version judged on the freshest days: held-out examples, per-user losses.

The held-out examples are the training examples' own kind (:func:`labelled_examples`, same
features, same windows) cut at cutoffs inside the holdout ``[start, end)``: the first at
``start``, then every ``step_days`` while its label horizon still ends by ``end``. When the
version's horizon is longer than the holdout, the horizon is shortened to the holdout (a
purchase must fall inside it to be seen). A user's loss is the mean over their examples of
the log loss or the Brier score of the version's probabilities (lower is better), so two
versions can be compared user by user on the same examples.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import get_args

import numpy as np
import polars as pl

from tastemaker.config.operations import PropensityMetric
from tastemaker.propensity.examples import LabelSpec, labelled_examples
from tastemaker.propensity.features import DAY_MS, FEATURE_NAMES, PropensityWindows
from tastemaker.propensity.model import PropensityModel
from tastemaker.propensity.training import logged_item_events
from tastemaker.workspace import Workspace

#: Per-user losses a propensity version can be judged on (lower is better).
LOSSES: tuple[str, ...] = get_args(PropensityMetric)


def holdout_cutoffs(start_ms: int, end_ms: int, labels: LabelSpec) -> tuple[list[int], LabelSpec]:
    """Cutoffs in ``[start_ms, end_ms)`` whose horizon ends by ``end_ms``, and the label
    spec they use (the horizon shortened to the holdout when it is longer)."""
    span_days = (end_ms - start_ms) / DAY_MS
    spec = replace(labels, horizon_days=min(labels.horizon_days, span_days))
    horizon = int(spec.horizon_days * DAY_MS)
    step = max(int(spec.step_days * DAY_MS), 1)
    return list(range(start_ms, end_ms - horizon + 1, step)), spec


def holdout_examples(
    ws: Workspace,
    windows: PropensityWindows,
    labels: LabelSpec,
    start: datetime,
    end: datetime,
) -> pl.DataFrame:
    """Labelled examples at the holdout's cutoffs, from the log up to ``end`` (exclusive).

    Features read only events before each cutoff (the history), labels the purchases in
    the holdout after it. Empty (``user_id`` and ``label`` only) when the log or the
    holdout has no room for a cutoff.
    """
    events = logged_item_events(ws, end=end)
    times, spec = holdout_cutoffs(
        int(start.timestamp() * 1000), int(end.timestamp() * 1000), labels
    )
    if events.is_empty() or not times:
        return pl.DataFrame(schema={"user_id": pl.String, "label": pl.Int8})
    return labelled_examples(events, ws.store.items(), windows, spec, times=times)


def per_user_loss(
    model: PropensityModel, examples: pl.DataFrame, metric: str
) -> tuple[np.ndarray, np.ndarray]:
    """Each user's mean ``metric`` (``log_loss`` or ``brier``) of ``model`` on ``examples``.

    Returns:
        (user ids in sorted order, their mean losses), aligned.
    """
    if metric not in LOSSES:
        raise ValueError(f"propensity metric '{metric}' is unknown (known: {LOSSES})")
    x = examples.select(FEATURE_NAMES).to_numpy().astype(np.float64)
    y = examples["label"].to_numpy().astype(np.float64)
    p = model.predict(x)  # clipped away from 0 and 1: the log loss stays finite
    log_loss = -(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))
    loss = log_loss if metric == "log_loss" else (p - y) ** 2
    per_user = (
        pl.DataFrame({"user_id": examples["user_id"], "loss": loss})
        .group_by("user_id")
        .agg(pl.col("loss").mean())
        .sort("user_id")
    )
    return per_user["user_id"].to_numpy(), per_user["loss"].to_numpy()
