"""Reference statistics of served-list features: what a model version is compared with.

The features (``monitoring.features``) of the lists a version serves are summarized per
feature: for a numeric one, quantile bin edges and the share of values per bin, mean,
standard deviation and a seeded sample of raw values (for the two-sample
Kolmogorov-Smirnov test); for a categorical one, the share of each category. The
``engaged.<attribute>`` features (``monitoring.engaged``: what users engaged with in the
training window, each user weighing 1) are categorical ones with weighted rows. Saved as
``reference.json`` in the version folder (``monitoring.baseline`` builds it at training).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from tastemaker.errors import NotFoundError
from tastemaker.monitoring.features import NUMERIC_FEATURES, WEIGHT

REFERENCE_FILE = "reference.json"


@dataclass(frozen=True)
class NumericReference:
    """A numeric feature's reference: interior quantile edges, bin shares, moments, sample."""

    edges: list[float]
    shares: list[float]
    mean: float
    std: float
    count: int
    sample: list[float] = field(default_factory=list)

    @classmethod
    def of(
        cls, values: np.ndarray, bins: int = 10, sample: int = 1000, seed: int = 0
    ) -> NumericReference:
        """Summarize ``values`` (NaN dropped) in up to ``bins`` quantile bins."""
        x = np.asarray(values, dtype=np.float64)
        x = x[np.isfinite(x)]
        if len(x) == 0:
            return cls([], [1.0], float("nan"), float("nan"), 0, [])
        edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)[1:-1]))
        ref = cls([float(e) for e in edges], [], float(x.mean()), float(x.std()), len(x))
        kept = np.random.default_rng(seed).choice(x, min(sample, len(x)), replace=False)
        shares = ref.bin_counts(x) / len(x)
        return cls(ref.edges, shares.tolist(), ref.mean, ref.std, len(x), kept.tolist())

    def bin_counts(self, values: np.ndarray) -> np.ndarray:
        """Values per bin (``len(edges) + 1`` bins; a value equal to an edge goes right)."""
        x = np.asarray(values, dtype=np.float64)
        idx = np.searchsorted(np.asarray(self.edges, dtype=np.float64), x[np.isfinite(x)], "right")
        return np.bincount(idx, minlength=len(self.edges) + 1).astype(np.float64)


def category_counts(values: pl.Series, weights: pl.Series | None = None) -> dict[str, float]:
    """The count (or the sum of ``weights``) of each category of ``values``, largest first.

    Null values are left out: served feature frames name a missing category
    (``features.MISSING``); an engaged item without the attribute says nothing of its mix.
    """
    w = pl.Series(WEIGHT, [1.0] * len(values)) if weights is None else weights.alias(WEIGHT)
    frame = pl.DataFrame([values.cast(pl.String).alias("value"), w.cast(pl.Float64)])
    sums = frame.drop_nulls("value").group_by("value").agg(pl.col(WEIGHT).sum())
    sums = sums.sort([WEIGHT, "value"], descending=[True, False])
    return dict(zip(sums["value"].to_list(), sums[WEIGHT].to_list(), strict=True))


@dataclass(frozen=True)
class CategoricalReference:
    """A categorical feature's reference: the share of each category, and the count (or the
    sum of the row weights) they are shares of."""

    shares: dict[str, float]
    count: float

    @classmethod
    def of(cls, values: pl.Series, weights: pl.Series | None = None) -> CategoricalReference:
        """Shares of the non-null values of ``values``, each row weighing its ``weights``
        entry (None: 1 each)."""
        counts = category_counts(values, weights)
        n = sum(counts.values())
        if weights is None:
            n = int(n)
        return cls({k: c / n for k, c in counts.items()} if n else {}, n)


@dataclass(frozen=True)
class Reference:
    """Reference statistics of every served-list feature of one model version."""

    numeric: dict[str, NumericReference]
    categorical: dict[str, CategoricalReference]
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "numeric": {k: asdict(v) for k, v in self.numeric.items()},
            "categorical": {k: asdict(v) for k, v in self.categorical.items()},
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reference:
        """Inverse of :meth:`to_dict`."""
        return cls(
            {k: NumericReference(**v) for k, v in data.get("numeric", {}).items()},
            {k: CategoricalReference(**v) for k, v in data.get("categorical", {}).items()},
            dict(data.get("meta", {})),
        )

    def save(self, folder: Path) -> Path:
        """Write ``reference.json`` into a version folder; return its path."""
        path = Path(folder) / REFERENCE_FILE
        path.write_text(json.dumps(self.to_dict(), allow_nan=True))
        return path

    @classmethod
    def load(cls, folder: Path) -> Reference:
        """Read the reference of a version folder.

        Raises:
            NotFoundError: the version was trained before reference statistics existed.
        """
        path = Path(folder) / REFERENCE_FILE
        if not path.is_file():
            raise NotFoundError(
                f"model version folder {Path(folder).name} has no {REFERENCE_FILE} (trained "
                "before monitoring): train a new version with `tastemaker train`"
            )
        return cls.from_dict(json.loads(path.read_text()))


def summarize(*frames: pl.DataFrame, meta: dict[str, Any] | None = None) -> Reference:
    """Reference statistics of feature frames: a served one
    (:func:`~tastemaker.monitoring.features.feature_frame`), an engaged one
    (:func:`~tastemaker.monitoring.engaged.engaged_frame`) or both.

    Columns named in :data:`~tastemaker.monitoring.features.NUMERIC_FEATURES` are numeric,
    the others categorical; a :data:`~tastemaker.monitoring.features.WEIGHT` column weighs
    the rows of its frame.
    """
    numeric: dict[str, NumericReference] = {}
    categorical: dict[str, CategoricalReference] = {}
    for frame in frames:
        weights = frame[WEIGHT] if WEIGHT in frame.columns else None
        for c in frame.columns:
            if c in NUMERIC_FEATURES:
                numeric[c] = NumericReference.of(frame[c].to_numpy())
            elif c != WEIGHT:
                categorical[c] = CategoricalReference.of(frame[c], weights)
    return Reference(numeric, categorical, dict(meta or {}))
