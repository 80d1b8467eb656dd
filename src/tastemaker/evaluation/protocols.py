"""Data for evaluation protocols: shared data sets, the synthetic marketplace, seed intervals."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl
from scipy import stats

from tastemaker.datasets.movielens import load_movielens
from tastemaker.errors import ValidationFailedError
from tastemaker.models.interactions import Interactions


def shared_data_dir() -> Path:
    """``$TASTEMAKER_SHARED_DATA`` or ``<repo>/../shared/data``."""
    env = os.environ.get("TASTEMAKER_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / ".." / "shared" / "data"


def dataset_path(dataset: str, path: Path | None = None) -> Path:
    """Resolve a benchmark data set folder, raising a clear error when absent."""
    folder = path if path is not None else shared_data_dir() / dataset
    if not folder.exists():
        raise ValidationFailedError(
            f"data set folder {folder} is missing (pass --data PATH or set TASTEMAKER_SHARED_DATA)",
            field="data",
        )
    return folder


def ml100k_interactions(path: Path | None = None) -> Interactions:
    """All 100k ratings as binary implicit interactions (every rating counts 1)."""
    data = load_movielens(dataset_path("ml-100k", path))
    return Interactions.from_events(data.events, {"rating": 1.0})


def seed_interval(values: Sequence[float], confidence: float = 0.95) -> dict[str, float]:
    """Mean over split seeds with a Student-t interval."""
    v = np.asarray(values, dtype=np.float64)
    mean = float(v.mean())
    if len(v) < 2:
        return {"mean": mean, "low": mean, "high": mean}
    half = float(stats.t.ppf(0.5 + confidence / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return {"mean": mean, "low": mean - half, "high": mean + half}


def marketplace_interactions(
    users: int = 5000, items: int = 3000, days: int = 30, seed: int = 0
) -> tuple[Interactions, pl.DataFrame]:
    """Generate the synthetic marketplace and build weighted interactions (+ its catalog)."""
    from tastemaker.datasets.marketplace import generate_marketplace

    market = generate_marketplace(users=users, items=items, days=days, seed=seed)
    inter = Interactions.from_events(market.events, item_ids=market.items["item_id"])
    return inter, market.items
