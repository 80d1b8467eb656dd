"""One training run: events -> interactions -> holdout metrics -> fit -> a registry version."""

from __future__ import annotations

import logging
from typing import Any

import polars as pl

from tastemaker.errors import ValidationFailedError
from tastemaker.models.catalog import make_model
from tastemaker.models.interactions import Interactions
from tastemaker.monitoring.baseline import save_reference
from tastemaker.registry.artifacts import ServingArtifacts
from tastemaker.registry.manifest import DataRange, Manifest
from tastemaker.registry.registry import ModelRegistry
from tastemaker.retrieval.ann import AnnConfig
from tastemaker.workspace import Workspace

log = logging.getLogger(__name__)


def registry_of(ws: Workspace) -> ModelRegistry:
    """The registry in the workspace's models folder."""
    return ModelRegistry(ws.settings.path(ws.settings.models_dir))


def holdout_metrics(
    name: str, params: dict[str, Any], inter: Interactions, items: pl.DataFrame, fraction: float
) -> dict[str, float]:
    """Fit on the oldest events and score the newest ``fraction`` (temporal holdout).

    Uses the evaluation harness (``tastemaker.evaluation``); returns ``{"ndcg@10": ...}``.
    """
    from tastemaker.evaluation.runner import score_model
    from tastemaker.evaluation.splits import temporal_split

    split = temporal_split(inter, test_fraction=fraction)
    model = make_model(name, **params).fit(split.train, items)
    metrics, _, _, _ = score_model(model, split, [10, 20], n_bootstrap=50)
    out = {f"{m}@{k}": float(e.mean) for m, per_k in metrics.items() for k, e in per_k.items()}
    out["holdout_fraction"] = fraction
    return out


def data_range(events: pl.DataFrame, inter: Interactions) -> DataRange:
    """The time span and sizes of the data a version was trained on."""
    ts = events["timestamp"]
    return DataRange(
        start=str(ts.min()) if len(ts) else None,
        end=str(ts.max()) if len(ts) else None,
        end_ms=int(ts.dt.epoch("ms").to_numpy().max()) if len(ts) else 0,
        events=events.height,
        users=inter.n_users,
        items=inter.n_items,
    )


def train_version(
    ws: Workspace,
    name: str,
    params: dict[str, Any] | None = None,
    *,
    holdout: float = 0.2,
    ann: AnnConfig | None = None,
    events: pl.DataFrame | None = None,
    extra: dict[str, object] | None = None,
) -> Manifest:
    """Train ``name`` on every event of the workspace and write a new registry version.

    Args:
        ws: the workspace (events, catalog, event weights).
        name: model name from ``tastemaker.models.MODELS``.
        params: hyperparameters.
        holdout: share of the newest events held out to compute offline metrics first
            (0 skips the evaluation).
        ann: ANN index settings.
        events: train on these events (e.g. a rolling window) instead of every event.
        extra: more manifest fields (e.g. how a retrained candidate was made).

    Raises:
        ValidationFailedError: no usable events, or unknown model / parameters.
    """
    params = dict(params or {})
    make_model(name, **params)  # fail fast on a bad name or parameter
    events = ws.store.events() if events is None else events
    items = ws.store.items()
    inter = Interactions.from_events(
        events, ws.settings.event_weights, item_ids=items["item_id"] if items.height else None
    )
    if inter.nnz == 0:
        raise ValidationFailedError(
            "no usable interactions in the workspace: import events first (`tastemaker import`)"
        )
    metrics = holdout_metrics(name, params, inter, items, holdout) if holdout > 0 else {}
    model = make_model(name, **params).fit(inter, items)
    artifacts = ServingArtifacts.build(model, inter, events, ann)
    data = data_range(events, inter)
    fields: dict[str, object] = {
        "model": name,
        "params": model.get_params(),
        "data": data.model_dump(),
        "metrics": metrics,
        "retrieval": {"ann_kind": artifacts.ann.kind_, "ann_recall_at_100": artifacts.ann.recall_},
        **(extra or {}),
    }
    registry = registry_of(ws)
    manifest = registry.create(fields, artifacts.save)
    try:  # monitoring: what the version serves now, which later traffic is compared with
        save_reference(ws, registry.path(manifest.version), manifest, events, artifacts)
    except Exception:  # the version serves without it; `tastemaker monitor` says it is missing
        log.exception("could not build the reference statistics of %s", manifest.version)
    return manifest
