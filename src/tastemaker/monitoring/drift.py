"""Drift of served traffic and of engagements against a model version's reference.

The window is the last ``monitoring.window_days``. Each item the version served in it
(impressions) has its features (``monitoring.features``) compared with the version's
``reference.json`` feature by feature (``monitoring.stats``); items served to users
without a history (the fallback list) are counted apart (:func:`split_cold`). What users
engaged with in the window (``monitoring.engaged``: ``engaged.<attribute>``) is compared
with what they engaged with in the version's training events, the same way. Too little
traffic (fewer than ``monitoring.min_samples`` served items, or engagements) gives figures
but no verdict for those features.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import polars as pl

from tastemaker.config import MonitoringConfig
from tastemaker.errors import NotFoundError
from tastemaker.monitoring.engaged import PREFIX, engaged_attributes, window_engaged
from tastemaker.monitoring.features import (
    NUMERIC_FEATURES,
    WEIGHT,
    catalog_frame,
    feature_frame,
)
from tastemaker.monitoring.impressions import served_items
from tastemaker.monitoring.reference import Reference
from tastemaker.monitoring.stats import FeatureDrift, categorical_drift, numeric_drift
from tastemaker.registry.artifacts import ServingArtifacts
from tastemaker.registry.registry import ModelRegistry
from tastemaker.workspace import Workspace


@dataclass(frozen=True)
class DriftReport:
    """Served traffic and engagements of one version's window, compared with its reference.

    ``engaged``: the engagements (distinct user-item pairs) in the window, None when the
    reference holds no engaged features (a version trained before they existed).
    ``reference``, ``served`` and ``engaged_frame``: what was compared (the report plots
    them; not part of the JSON form).
    """

    version: str
    start_ms: int
    end_ms: int
    lists: int
    items: int
    min_samples: int
    features: list[FeatureDrift] = field(default_factory=list)
    cold_items: int = 0
    engaged: int | None = None
    reference: Reference | None = field(default=None, repr=False, compare=False)
    served: pl.DataFrame | None = field(default=None, repr=False, compare=False)
    engaged_frame: pl.DataFrame | None = field(default=None, repr=False, compare=False)

    @property
    def enough(self) -> bool:
        """Whether the window held enough served items for a verdict on served features."""
        return self.items >= self.min_samples

    @property
    def engaged_enough(self) -> bool:
        """Whether the window held enough engagements for a verdict on engaged features."""
        return self.engaged is not None and self.engaged >= self.min_samples

    @property
    def drifted(self) -> bool:
        """Whether any feature drifted (never one with too little traffic for a verdict)."""
        return any(f.drifted for f in self.features)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "version": self.version,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "lists": self.lists,
            "items": self.items,
            "min_samples": self.min_samples,
            "cold_items": self.cold_items,
            "enough": self.enough,
            "engaged": self.engaged,
            "engaged_enough": self.engaged_enough,
            "drifted": self.drifted,
            "features": [f.to_dict() for f in self.features],
        }


def compare(
    reference: Reference, features: pl.DataFrame, cfg: MonitoringConfig, *, verdict: bool = True
) -> list[FeatureDrift]:
    """Every feature of ``features`` (a served or engaged feature frame, rows weighed by its
    :data:`~tastemaker.monitoring.features.WEIGHT` column if any) against ``reference``.

    ``verdict``: False when the frame is too small for one (figures, nothing drifted).
    """
    weights = features[WEIGHT] if WEIGHT in features.columns else None
    numeric = [c for c in NUMERIC_FEATURES if c in reference.numeric and c in features.columns]
    rows = [numeric_drift(c, reference.numeric[c], features[c].to_numpy(), cfg) for c in numeric]
    rows += [categorical_drift(c, ref, features[c], cfg, weights)
             for c, ref in reference.categorical.items() if c in features.columns]  # fmt: skip
    return rows if verdict else [replace(r, drifted=False) for r in rows]


def split_cold(features: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """The served items of users with a history, and the count of the others.

    A version's reference describes personalized lists (it samples training users with a
    history); a visitor without one gets the fallback list, another population: counted
    apart, not compared, so a share of new visitors does not read as drift.
    """
    if "history" not in features.columns:
        return features, 0
    known = features.filter(pl.col("history").fill_null(0) > 0)
    return known, features.height - known.height


def window_features(
    ws: Workspace,
    version: str,
    start_ms: int,
    end_ms: int,
    catalog: pl.DataFrame,
    categorical: Sequence[str],
) -> tuple[pl.DataFrame, int]:
    """The feature frame of the items ``version`` served in the window, and its list count.

    ``catalog``: :func:`~tastemaker.monitoring.features.catalog_frame`. ``categorical``: the
    served items' categorical features to include.
    """
    folder = ModelRegistry(ws.settings.path(ws.settings.models_dir)).path(version)
    served = served_items(ws.store, start_ms, end_ms)
    served = served.filter(pl.col("model_version") == version)
    artifacts = ServingArtifacts.load(folder)
    features = feature_frame(served, catalog, artifacts.model.items_, artifacts.popularity,
                             tuple(categorical))  # fmt: skip
    return features, served["request_id"].n_unique() if served.height else 0


def check_drift(
    ws: Workspace,
    version: str | None = None,
    days: float | None = None,
    now: float | None = None,
) -> DriftReport:
    """Compare the recent served traffic of a model version with its reference.

    Args:
        ws: the workspace.
        version: the model version (None: the active one).
        days: window length (None: ``monitoring.window_days``).
        now: end of the window, epoch seconds (None: now).

    Raises:
        NotFoundError: no version is active, the version does not exist, or it holds no
            reference statistics (trained before monitoring).
    """
    cfg = ws.settings.monitoring
    registry = ModelRegistry(ws.settings.path(ws.settings.models_dir))
    if version is None:
        version = registry.state().active
        if version is None:
            raise NotFoundError("no model version is active: `tastemaker models promote V`")
    reference = Reference.load(registry.path(version))
    end_ms = int((time.time() if now is None else now) * 1000)
    start_ms = end_ms - int((cfg.window_days if days is None else days) * 86_400_000)
    catalog = catalog_frame(ws.store, ws.settings)
    served = [c for c in reference.categorical if not c.startswith(PREFIX)]
    features, lists = window_features(ws, version, start_ms, end_ms, catalog, served)
    known, cold = split_cold(features)

    def judged(window: pl.DataFrame) -> list[FeatureDrift]:
        return compare(reference, window, cfg, verdict=window.height >= cfg.min_samples)

    rows = judged(known)
    attributes = engaged_attributes(list(reference.categorical))
    frame = None
    if attributes:
        frame = window_engaged(ws, catalog, attributes, start_ms, end_ms)
        rows += judged(frame)
    return DriftReport(
        version=version,
        start_ms=start_ms,
        end_ms=end_ms,
        lists=lists,
        items=known.height,
        min_samples=cfg.min_samples,
        features=rows,
        cold_items=cold,
        engaged=None if frame is None else frame.height,
        reference=reference,
        served=known,
        engaged_frame=frame,
    )
