"""A model version loaded for serving: artifacts plus catalog arrays and compiled stages."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import polars as pl

from tastemaker.engine.config import PipelineConfig
from tastemaker.models.als import ALSRecommender
from tastemaker.registry.artifacts import ServingArtifacts, find_component, unit_rows
from tastemaker.registry.manifest import Manifest
from tastemaker.rerank.chain import Stage, build_stages
from tastemaker.rerank.context import Exposure
from tastemaker.retrieval.itemtable import ItemTable
from tastemaker.retrieval.sources import RetrievalState


@dataclass
class LoadedVersion:
    """One servable version: model, retrieval state, item table, re-ranking stages.

    Attributes:
        name: version name (``v0003``) or ``"none"`` for the popularity fallback.
        manifest: its manifest (None for the fallback).
        artifacts: model and arrays (None for the fallback).
        table: catalog arrays aligned to the item indices.
        retrieval: state of the candidate sources.
        stages: re-ranking stages compiled against ``table``.
        unit_vectors: unit-norm item factors (diversity).
        exposure: impressions / clicks per item (updated as impressions are logged).
        query_als: the ALS whose user vector of a history row queries the ANN index (the
            model's own ALS or the one fitted for retrieval; None for the fallback).
    """

    name: str
    manifest: Manifest | None
    artifacts: ServingArtifacts | None
    table: ItemTable
    retrieval: RetrievalState
    stages: list[tuple[str, Stage]]
    unit_vectors: np.ndarray | None
    exposure: Exposure
    query_als: ALSRecommender | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    _filled: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def data_end_ms(self) -> int:
        """End of the training data (events after it are read as fresh)."""
        return self.manifest.data.end_ms if self.manifest else 0

    def filled_codes(self, column: str) -> np.ndarray:
        """Codes of a categorical column with missing values as one extra code (cached)."""
        cached = self._filled.get(column)
        if cached is None:
            cat = self.table.categorical[column]
            cached = np.where(cat.codes >= 0, cat.codes, len(cat.labels))
            self._filled[column] = cached
        return cached

    def add_exposure(self, items: np.ndarray, clicks: bool = False) -> None:
        """Count impressions (or clicks) of item indices."""
        target = self.exposure.clicks if clicks else self.exposure.impressions
        with self.lock:
            np.add.at(target, items[(items >= 0) & (items < len(target))], 1.0)


def load_version(
    folder: Path | None,
    manifest: Manifest | None,
    items: pl.DataFrame,
    config: PipelineConfig,
    artifacts: ServingArtifacts | None = None,
    segment_attributes: tuple[str, ...] = (),
) -> LoadedVersion:
    """Load a version folder (or build the popularity-only fallback when ``folder`` is None).

    ``artifacts`` already in memory are reused (a catalog refresh rebuilds only the item
    table and what depends on it). ``segment_attributes`` are the catalog attributes whose
    values act as user segments (popularity within them, "popular in electric").
    """
    from tastemaker.models.vocab import Vocabulary

    art = artifacts
    if art is None and folder is not None:
        art = ServingArtifacts.load(folder)
    vocab = art.model.items_ if art is not None else Vocabulary()
    table = ItemTable.build(items, vocab)
    n = len(table)
    popularity = np.zeros(n, np.float32)
    exposure = Exposure.zeros(n)
    unit = None
    if art is not None:
        popularity[: len(art.popularity)] = art.popularity
        exposure.impressions[: len(art.impressions)] = art.impressions
        exposure.clicks[: len(art.clicks)] = art.clicks
        unit = art.unit_factors
        if unit is None:  # a version trained before they were stored
            unit = unit_rows(art.item_factors)
    else:
        popularity[:] = _catalog_recency(table)
    retrieval = _retrieval(table, popularity, art, config, segment_attributes)
    stages = build_stages(config.rerank, table)
    name = manifest.version if manifest else "none"
    als = None
    if art is not None:
        als = find_component(art.model, ALSRecommender) or art.retrieval_als
        art.model.warm_up()  # the scorer's caches (ALS Gram matrix), not in a request
        if als is not None:
            als.warm_up()
    return LoadedVersion(name, manifest, art, table, retrieval, stages, unit, exposure, als)


def reconfigure_version(
    v: LoadedVersion, config: PipelineConfig, segment_attributes: tuple[str, ...] = ()
) -> LoadedVersion:
    """``v`` with what depends on the engine settings rebuilt for ``config``.

    The re-ranking stages and the retrieval state (its new-item list) are built again; the
    artifacts, item table and exposure counts are shared with ``v``, so no file is read.

    Raises:
        ValidationFailedError: a boost / bury filter of ``config`` does not compile.
    """
    stages = build_stages(config.rerank, v.table)
    retrieval = _retrieval(v.table, v.retrieval.popularity, v.artifacts, config,
                           segment_attributes)  # fmt: skip
    return replace(v, retrieval=retrieval, stages=stages)


def _retrieval(
    table: ItemTable,
    popularity: np.ndarray,
    art: ServingArtifacts | None,
    config: PipelineConfig,
    segment_attributes: tuple[str, ...],
) -> RetrievalState:
    return RetrievalState.build(
        table,
        popularity,
        ann=art.ann if art else None,
        item_factors=art.item_factors if art else None,
        neighbors=art.neighbors if art else None,
        segment_columns=segment_attributes,
        new_item_days=config.rerank.new_items.days,
    )


def _catalog_recency(table: ItemTable) -> np.ndarray:
    """Without a model: newer items rank first (a score in [0, 1])."""
    created = table.created_ms.astype(np.float64)
    if len(created) == 0 or created.max() <= 0:
        return np.zeros(len(created), np.float32)
    lo = created[created >= 0].min()
    span = max(created.max() - lo, 1.0)
    return np.clip((created - lo) / span, 0, 1).astype(np.float32)
