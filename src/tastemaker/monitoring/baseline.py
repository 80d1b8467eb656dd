"""The reference of a new model version, built at training through the serving pipeline.

A seeded sample of training users is run through the engine's own recommendation
pipeline (``engine.pipeline``, with the workspace's ``recommendations.yaml``) against the
new version, exactly as ``GET /v1/recommendations`` would serve them now, and the
features of those lists (``monitoring.features``), with what users engaged with in the
events the version was trained on (``monitoring.engaged``), become the version's
``reference.json``. Served traffic later differs from it only by what changed since:
users, tastes, catalog, or the pipeline settings; engagements, by tastes and catalog.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from tastemaker.engine.config import load_pipeline_config
from tastemaker.engine.pipeline import RecommendationPipeline, Request
from tastemaker.engine.version import load_version
from tastemaker.monitoring.engaged import engaged_frame, engaged_types
from tastemaker.monitoring.features import (
    WEIGHT,
    catalog_frame,
    categorical_features,
    feature_frame,
)
from tastemaker.monitoring.reference import Reference, summarize
from tastemaker.registry.artifacts import ServingArtifacts
from tastemaker.registry.manifest import Manifest
from tastemaker.workspace import Workspace


def pipeline_lists(
    ws: Workspace,
    folder: Path,
    manifest: Manifest,
    *,
    artifacts: ServingArtifacts | None = None,
    users: int = 200,
    k: int = 10,
    seed: int = 0,
) -> pl.DataFrame:
    """Lists the pipeline serves with the version of ``folder`` to sampled training users.

    Users are drawn in a seeded random order among those with a training history and a
    profile (visitors who were never identified are skipped), up to ``users`` of them.

    Returns:
        One row per served item: item_id, score, history.
    """
    art = artifacts or ServingArtifacts.load(folder)
    config = load_pipeline_config(ws.root)
    attributes = tuple(ws.settings.profiles.attributes)
    v = load_version(folder, manifest, ws.store.items(), config, art, attributes)
    pipeline = RecommendationPipeline(ws, config, segment_attributes=attributes)
    active = np.flatnonzero(np.diff(art.history.indptr) > 0)
    order = np.random.default_rng(seed).permutation(active)
    ids = art.model.users_.ids
    item_ids: list[str] = []
    scores: list[float] = []
    history: list[float] = []
    taken = 0
    with threadpool_limits(1):  # tiny solves per user: BLAS threads only contend (as serving)
        for row in order[: users * 5]:
            key = str(ids[row])
            if not pipeline.signals(key).found:  # a visitor never identified: not a list user
                continue
            req = Request("", key, k, request_id=f"reference-{taken}")
            served = pipeline.run(v, req, "reference")
            item_ids += served.item_ids
            scores += served.scores
            history += [float(served.history)] * len(served.item_ids)
            taken += 1
            if taken == users:
                break
    return pl.DataFrame({"item_id": item_ids, "score": scores, "history": history},
                        schema={"item_id": pl.String, "score": pl.Float64,
                                "history": pl.Float64})  # fmt: skip


def build_reference(
    ws: Workspace,
    folder: Path,
    manifest: Manifest,
    events: pl.DataFrame,
    *,
    artifacts: ServingArtifacts | None = None,
    users: int = 200,
    k: int = 10,
    seed: int = 0,
) -> Reference:
    """Reference statistics of the lists the version of ``folder`` serves to sampled users,
    and of what users engaged with in its training ``events``.

    Args:
        ws: the workspace (catalog, profiles, pipeline settings).
        folder: the version folder.
        manifest: its manifest.
        events: the events the version was trained on.
        artifacts: the version's artifacts when already in memory.
        users: training users sampled.
        k: list length.
        seed: sampling (and re-ranking) seed.
    """
    art = artifacts or ServingArtifacts.load(folder)
    lists = pipeline_lists(ws, folder, manifest, artifacts=art, users=users, k=k, seed=seed)
    catalog, cats = catalog_frame(ws.store, ws.settings), categorical_features(ws.settings)
    features = feature_frame(lists, catalog, art.model.items_, art.popularity, cats)
    engaged = engaged_frame(events, catalog, cats, engaged_types(ws.settings))
    meta = {"source": "serving pipeline lists of sampled training users", "users": users,
            "k": k, "seed": seed, "items": lists.height, "version": manifest.version,
            "engaged_source": "engagements in the training events", "engaged": engaged.height,
            "engaged_users": round(engaged[WEIGHT].sum())}  # fmt: skip
    return summarize(features, engaged, meta=meta)


def save_reference(ws: Workspace, folder: Path, manifest: Manifest, events: pl.DataFrame,
                   artifacts: ServingArtifacts | None = None) -> Path:  # fmt: skip
    """Build the reference of a saved version (trained on ``events``), write ``reference.json``."""
    return build_reference(ws, folder, manifest, events, artifacts=artifacts).save(folder)
