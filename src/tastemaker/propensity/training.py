"""Train and evaluate purchase-propensity models out of time, then version the served one.

The labelled examples (:mod:`tastemaker.propensity.examples`) are split by cutoff into
fit / calibration / test slices, each slice's labels ending before the next slice begins
(checked, :class:`~tastemaker.errors.DataLeakageError` otherwise). The requested model and
a logistic-regression baseline are evaluated on the test slice; the served model is then
refit with the same procedure moved forward to the newest data, and saved in the
propensity registry with the test metrics in its manifest.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from tastemaker.errors import DataLeakageError, ValidationFailedError
from tastemaker.evaluation.classification import classification_metrics, reliability
from tastemaker.propensity.examples import LabelSpec, labelled_examples
from tastemaker.propensity.features import (
    DAY_MS,
    FEATURE_NAMES,
    PropensityWindows,
    identity_links,
    item_events,
    schema_hash,
)
from tastemaker.propensity.model import KINDS, PropensityModel
from tastemaker.registry.manifest import DataRange, Manifest
from tastemaker.registry.registry import ModelRegistry
from tastemaker.schema import ITEM_EVENT_TYPES
from tastemaker.workspace import Workspace

REPORT_FILE = "report.json"


@dataclass(frozen=True)
class PropensityConfig:
    """One training run's choices.

    Attributes:
        model: ``lightgbm``, ``logistic`` or ``auto`` (both are evaluated; the one with the
            higher test ROC AUC is served).
        windows: feature windows.
        labels: horizon and cutoff spacing.
        test_days: days of cutoffs held out for the test slice.
        calibration_days: days of cutoffs used to stop boosting and calibrate.
        calibration: ``isotonic``, ``sigmoid`` or ``none``.
        params: estimator parameter overrides.
        seed: random seed.
    """

    model: str = "auto"
    windows: PropensityWindows = field(default_factory=PropensityWindows)
    labels: LabelSpec = field(default_factory=lambda: LabelSpec(horizon_days=3.0))
    test_days: float = 5.0
    calibration_days: float = 3.0
    calibration: str = "isotonic"
    params: dict[str, Any] = field(default_factory=dict)
    seed: int = 0


@dataclass
class Slices:
    """Examples split by cutoff time: fit, calibration and (optionally) test."""

    fit: pl.DataFrame
    calibration: pl.DataFrame
    test: pl.DataFrame


def split_by_time(examples: pl.DataFrame, cfg: PropensityConfig, *, with_test: bool) -> Slices:
    """Fit / calibration / test by cutoff; each slice's labels end before the next begins.

    Raises:
        ValidationFailedError: too few cutoffs for the slices.
        DataLeakageError: a slice's label window reaches into the next slice.
    """
    horizon = int(cfg.labels.horizon_days * DAY_MS)
    times = sorted(examples["as_of"].unique().to_list())
    last = times[-1] if times else 0
    test_start = last - int(cfg.test_days * DAY_MS) + DAY_MS if with_test else last + horizon
    cal_end = test_start - horizon
    cal_start = cal_end - int(cfg.calibration_days * DAY_MS) + DAY_MS
    fit_end = cal_start - horizon
    test = examples.filter(pl.col("as_of") >= test_start)
    cal = examples.filter((pl.col("as_of") >= cal_start) & (pl.col("as_of") <= cal_end))
    fit = examples.filter(pl.col("as_of") <= fit_end)
    if fit.is_empty() or cal.is_empty() or (with_test and test.is_empty()):
        days = (last - times[0]) / DAY_MS + 1 if times else 0
        raise ValidationFailedError(
            f"{len(times)} cutoffs over {days:.0f} days are too few for fit, calibration "
            f"({cfg.calibration_days} days) and test ({cfg.test_days} days) slices with a "
            f"{cfg.labels.horizon_days}-day horizon between them; import more history or "
            "shorten --test-days / --horizon-days"
        )
    for earlier, later, what in ((fit, cal, "fit/calibration"), (cal, test, "calibration/test")):
        if later.height and int(earlier["as_of"].max()) + horizon > int(later["as_of"].min()):  # type: ignore[arg-type]
            raise DataLeakageError(f"{what}: labels of the earlier slice overlap the later one")
    return Slices(fit, cal, test)


def _matrix(frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    x = frame.select(FEATURE_NAMES).to_numpy().astype(np.float64)
    return x, frame["label"].to_numpy().astype(np.int64)


def fit_model(slices: Slices, cfg: PropensityConfig, kind: str) -> PropensityModel:
    """A model of ``kind`` fit on the fit slice and calibrated on the calibration slice."""
    x, y = _matrix(slices.fit)
    xc, yc = _matrix(slices.calibration)
    params = cfg.params if kind == cfg.model else {}
    model = PropensityModel(kind, list(FEATURE_NAMES), params, cfg.calibration, cfg.seed)
    return model.fit(x, y, xc, yc)


@dataclass
class TrainResult:
    """What a training run measured and saved."""

    version: str | None
    model: str
    metrics: dict[str, dict[str, Any]]
    reliability: list[dict[str, float]]
    importance: dict[str, float]
    examples: int
    cutoffs: int
    #: item events the model was trained on (the manifest's ``data.events``)
    events: int = 0

    def promotion_refusal(self) -> str | None:
        """Why the chosen model must not be promoted, or None when it beats the base rate
        on the out-of-time test slice in both log loss and Brier score (lower is better)."""
        chosen, base = self.metrics[self.model], self.metrics["base_rate"]
        nan = float("nan")  # a one-class test slice has no log loss: never promoted
        worse = [
            f"{name} {chosen.get(name, nan):.6f} is not below the base rate's "
            f"{base.get(name, nan):.6f}"
            for name in ("log_loss", "brier")
            if not float(chosen.get(name, nan)) < float(base.get(name, nan))
        ]
        if not worse:
            return None
        return f"{self.model} does not beat the base rate out of time: " + "; ".join(worse)


def evaluate_models(
    examples: pl.DataFrame, cfg: PropensityConfig
) -> tuple[str, dict[str, dict[str, Any]], list[dict[str, float]]]:
    """Test-slice metrics of the candidate models and the base rate; the chosen kind.

    Candidates: the configured model plus the logistic baseline (both for ``auto``). Returns
    (chosen kind, metrics per candidate and ``base_rate``, reliability of the chosen one).
    """
    slices = split_by_time(examples, cfg, with_test=True)
    xt, yt = _matrix(slices.test)
    users = slices.test["user_id"].to_numpy()
    kinds = list(KINDS) if cfg.model == "auto" else list(dict.fromkeys([cfg.model, "logistic"]))
    metrics: dict[str, dict[str, Any]] = {}
    predictions: dict[str, np.ndarray] = {}
    for kind in kinds:
        predictions[kind] = fit_model(slices, cfg, kind).predict(xt)
        metrics[kind] = classification_metrics(yt, predictions[kind], users, seed=cfg.seed)
    chosen = cfg.model
    if chosen == "auto":
        chosen = max(kinds, key=lambda k: float(metrics[k].get("auc", 0.0)))
    rate = float(slices.fit["label"].mean())  # type: ignore[arg-type]
    metrics["base_rate"] = classification_metrics(yt, np.full(len(yt), rate), users, seed=cfg.seed)
    return chosen, metrics, reliability(yt, predictions[chosen])


def logged_links(ws: Workspace, until: datetime | None = None) -> pl.DataFrame:
    """The identity links of the workspace's log (up to ``until``), as the profiles made them."""
    return identity_links(ws.store.events(types=["identify"], end=until))


def logged_item_events(
    ws: Workspace, start: datetime | None = None, end: datetime | None = None
) -> pl.DataFrame:
    """The log's item events in ``[start, end)`` with visitors stitched to their users by the
    identity links up to ``end`` (:func:`~tastemaker.propensity.features.item_events`)."""
    logged = ws.store.events(types=sorted(ITEM_EVENT_TYPES), start=start, end=end)
    return item_events(logged, logged_links(ws, end))


def registry_of(ws: Workspace) -> ModelRegistry:
    """The propensity registry (``<models>/propensity``), bound to the code's feature schema."""
    return ModelRegistry(ws.settings.path(ws.settings.models_dir) / "propensity", schema_hash())


def windows_of(manifest: Manifest) -> PropensityWindows:
    """The feature windows a version was trained with."""
    return PropensityWindows(**manifest.feature_schema.get("windows", {}))


def config_of(manifest: Manifest) -> PropensityConfig:
    """The training choices a version was made with (its manifest's ``params``), so a
    retrain repeats them; fields a version does not record keep their defaults."""
    params = dict(manifest.params)
    defaults = PropensityConfig()
    windows = PropensityWindows(**params.pop("windows", None) or asdict(defaults.windows))
    labels = LabelSpec(**params.pop("labels", None) or asdict(defaults.labels))
    known = {k: v for k, v in params.items() if k in PropensityConfig.__dataclass_fields__}
    return PropensityConfig(**{**known, "windows": windows, "labels": labels})


def train_propensity(
    ws: Workspace,
    cfg: PropensityConfig,
    *,
    save: bool = True,
    window: tuple[datetime, datetime] | None = None,
    extra: dict[str, object] | None = None,
) -> TrainResult:
    """Build examples from the workspace's log, evaluate out of time, fit and save the model.

    Args:
        ws: the workspace (event log, catalog, propensity registry).
        cfg: the training choices.
        save: register the fitted model as a new version.
        window: train on the events in ``[start, end)`` only (default: the whole log).
        extra: more manifest fields (a guarded retrain records its window and trigger).

    Raises:
        ValidationFailedError: the log is too short, or the user window is longer than the
            profile timeline that serves it online.
    """
    if cfg.windows.user_days > ws.settings.profiles.window_days:
        raise ValidationFailedError(
            f"user window {cfg.windows.user_days} days exceeds profiles.window_days "
            f"{ws.settings.profiles.window_days}: online features come from the profile "
            "timeline, so it must not be longer"
        )
    start, end = window if window is not None else (None, None)
    events = logged_item_events(ws, start, end)
    items = ws.store.items()
    examples = labelled_examples(events, items, cfg.windows, cfg.labels)
    chosen, metrics, table = evaluate_models(examples, cfg)
    final = fit_model(split_by_time(examples, cfg, with_test=False), cfg, chosen)
    result = TrainResult(
        version=None,
        model=chosen,
        metrics=metrics,
        reliability=table,
        importance=final.importance(),
        examples=examples.height,
        cutoffs=examples["as_of"].n_unique(),
        events=events.height,
    )
    if save:
        result.version = _save(ws, cfg, result, final, events, extra or {}).version
    return result


def _save(
    ws: Workspace,
    cfg: PropensityConfig,
    result: TrainResult,
    final: PropensityModel,
    events: pl.DataFrame,
    extra: dict[str, object],
) -> Manifest:
    """Register ``final`` as a new propensity version with its report and manifest."""
    registry = registry_of(ws)
    first, last = int(events["ts"].min()), int(events["ts"].max())  # type: ignore[arg-type]
    report = {**asdict(result), "config": _config_dict(cfg)}
    metrics = result.metrics[result.model]

    def write(folder: Path) -> None:
        final.save(folder)
        (folder / REPORT_FILE).write_text(json.dumps(report, indent=2, default=str))

    return registry.create(
        {
            **extra,
            "model": f"propensity-{result.model}",
            "params": _config_dict(cfg),
            "data": DataRange(
                start=_iso(first),
                end=_iso(last),
                end_ms=last,
                events=events.height,
                users=events["user_id"].n_unique(),
                items=events["item_id"].n_unique(),
            ),
            "metrics": {k: float(v) for k, v in metrics.items() if isinstance(v, float)},
            "feature_schema_hash": registry.schema_hash,
            "feature_schema": {"features": list(FEATURE_NAMES), "windows": asdict(cfg.windows)},
        },
        write,
    )


def _config_dict(cfg: PropensityConfig) -> dict[str, Any]:
    return json.loads(json.dumps(asdict(cfg), default=str))


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
