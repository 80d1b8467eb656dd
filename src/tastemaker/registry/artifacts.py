"""What a version folder holds for serving, and how it is written and read back.

A version folder contains ``model/`` (the scorer, ``Recommender.save``), ``retrieval/``
(the faiss index over ALS item factors, ``ann.faiss`` + ``ann.json``) and ``serving/``,
one ``.npy`` file per array: item factors (and their unit-length rows), the item-kNN
neighbour matrix, popularity,
per-item impressions and clicks, and per-user history, purchases and not-interested pairs
at training time. The arrays are memory-mapped (copy-on-write) when a server loads them:
no copy, no checksum pass, at start-up. Versions written before hold one ``serving.npz``
instead, still read.
Retrieval needs ALS factors and item neighbours: they come from the scorer when it has
them (ALS, item-kNN or a hybrid holding them) and are fitted alongside otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import polars as pl
import scipy.sparse as sp

from tastemaker.errors import NotFittedError
from tastemaker.models.als import ALSRecommender
from tastemaker.models.base import Recommender
from tastemaker.models.catalog import load_model
from tastemaker.models.interactions import Interactions
from tastemaker.models.itemknn import ItemKNNRecommender
from tastemaker.retrieval.ann import AnnConfig, AnnIndex

MODEL_DIR = "model"
RETRIEVAL_DIR = "retrieval"
ARRAYS_DIR = "serving"
#: The arrays of versions written before ``serving/`` (one uncompressed archive).
ARRAYS_FILE = "serving.npz"
_SPARSE = ("history", "purchased", "negative", "neighbors")
_R = TypeVar("_R", bound=Recommender)


def find_component(model: Recommender, cls: type[_R]) -> _R | None:
    """``model`` itself or a component of it (hybrid) that is a ``cls``."""
    if isinstance(model, cls):
        return model
    for part in getattr(model, "models_", []) or []:
        if isinstance(part, cls):
            return part
    return None


def unit_rows(factors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), float32: item vectors for diversity."""
    norms = np.linalg.norm(factors, axis=1, keepdims=True)
    return (factors / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def item_counts(events: pl.DataFrame, items: Any, types: tuple[str, ...]) -> np.ndarray:
    """Events of ``types`` per item of the vocabulary ``items`` (float64)."""
    sel = events.filter(pl.col("type").is_in(list(types)) & pl.col("item_id").is_not_null())
    out = np.zeros(len(items), np.float64)
    idx = items.index(sel["item_id"].cast(pl.String))
    np.add.at(out, idx[idx >= 0], 1.0)
    return out


def user_item_matrix(
    events: pl.DataFrame, inter: Interactions, types: tuple[str, ...]
) -> sp.csr_matrix:
    """Binary users x items matrix of the events of ``types`` (e.g. purchases)."""
    sel = events.filter(pl.col("type").is_in(list(types)) & pl.col("item_id").is_not_null())
    user = sel["user_id"].cast(pl.String)
    if "anonymous_id" in sel.columns:
        user = sel.select(pl.coalesce("user_id", "anonymous_id"))["user_id"].cast(pl.String)
    u, i = inter.users.index(user), inter.items.index(sel["item_id"].cast(pl.String))
    ok = (u >= 0) & (i >= 0)
    m = sp.csr_matrix(
        (np.ones(int(ok.sum()), np.float32), (u[ok], i[ok])), shape=inter.matrix.shape
    )
    m.data[:] = 1.0
    return m


@dataclass
class ServingArtifacts:
    """Everything serving loads from a version folder."""

    model: Recommender
    ann: AnnIndex
    item_factors: np.ndarray
    neighbors: sp.csr_matrix
    popularity: np.ndarray
    impressions: np.ndarray
    clicks: np.ndarray
    history: sp.csr_matrix
    purchased: sp.csr_matrix
    negative: sp.csr_matrix
    retrieval_als: ALSRecommender | None = None
    #: ``unit_rows(item_factors)``, stored at training (None in older versions: computed).
    unit_factors: np.ndarray | None = None

    def als_fold_in(self, history: sp.csr_matrix) -> np.ndarray:
        """User vectors in the ANN space for ad-hoc history rows."""
        als = find_component(self.model, ALSRecommender)
        if als is None:
            als = self.retrieval_als
        if als is None:
            raise NotFittedError("this version holds no ALS model for retrieval")
        return als.fold_in(history)

    @classmethod
    def build(
        cls,
        model: Recommender,
        inter: Interactions,
        events: pl.DataFrame,
        ann_config: AnnConfig | None = None,
    ) -> ServingArtifacts:
        """Derive the retrieval state of a fitted ``model`` trained on ``inter``."""
        als = find_component(model, ALSRecommender) or ALSRecommender().fit(inter)
        knn = find_component(model, ItemKNNRecommender) or ItemKNNRecommender(50).fit(inter)
        factors = als.item_factors_
        queries = als.user_factors_[np.diff(inter.matrix.indptr) > 0]
        ann = AnnIndex(ann_config).fit(factors, queries)
        pop = inter.item_popularity()
        top = pop.max(initial=0.0)
        art = cls(
            model=model,
            ann=ann,
            item_factors=factors,
            unit_factors=unit_rows(factors),
            neighbors=sp.csr_matrix(knn.similarity_, dtype=np.float32),
            popularity=(pop / top if top > 0 else pop).astype(np.float32),
            impressions=item_counts(events, inter.items, ("impression",)),
            clicks=item_counts(events, inter.items, ("click",)),
            history=sp.csr_matrix(inter.matrix, dtype=np.float32),
            purchased=user_item_matrix(events, inter, ("purchase",)),
            negative=sp.csr_matrix(inter.negative, dtype=np.float32),
        )
        art.retrieval_als = None if als is find_component(model, ALSRecommender) else als
        return art

    def save(self, folder: Path) -> None:
        """Write ``model/``, ``retrieval/`` and ``serving.npz`` into ``folder``."""
        self.model.save(folder / MODEL_DIR)
        self.ann.save(folder / RETRIEVAL_DIR)
        if self.retrieval_als is not None:
            self.retrieval_als.save(folder / RETRIEVAL_DIR / "als")
        arrays: dict[str, np.ndarray] = {
            "item_factors": self.item_factors,
            "popularity": self.popularity,
            "impressions": self.impressions,
            "clicks": self.clicks,
        }
        if self.unit_factors is not None:
            arrays["unit_factors"] = self.unit_factors
        for key in _SPARSE:
            m = sp.csr_matrix(getattr(self, key))
            arrays[f"{key}__data"], arrays[f"{key}__indices"] = m.data, m.indices
            arrays[f"{key}__indptr"], arrays[f"{key}__shape"] = m.indptr, np.asarray(m.shape)
        (folder / ARRAYS_DIR).mkdir(parents=True, exist_ok=True)
        for key, array in arrays.items():
            np.save(folder / ARRAYS_DIR / f"{key}.npy", array, allow_pickle=False)

    @classmethod
    def load(cls, folder: Path) -> ServingArtifacts:
        """Read what :meth:`save` wrote (or the ``serving.npz`` of an older version)."""
        raw = _read_arrays(folder)
        sparse = {
            key: sp.csr_matrix(
                (raw[f"{key}__data"], raw[f"{key}__indices"], raw[f"{key}__indptr"]),
                shape=tuple(raw[f"{key}__shape"]),
            )
            for key in _SPARSE
        }
        art = cls(
            model=load_model(folder / MODEL_DIR),
            ann=AnnIndex.load(folder / RETRIEVAL_DIR),
            item_factors=raw["item_factors"],
            popularity=raw["popularity"],
            impressions=raw["impressions"],
            clicks=raw["clicks"],
            unit_factors=raw.get("unit_factors"),
            **sparse,
        )
        if (folder / RETRIEVAL_DIR / "als").is_dir():
            art.retrieval_als = ALSRecommender.load(folder / RETRIEVAL_DIR / "als")
        return art


def _read_arrays(folder: Path) -> dict[str, np.ndarray]:
    """The serving arrays of a version folder, memory-mapped when stored one per file.

    Copy-on-write: a caller that changes an array in place changes its own pages, never
    the file.
    """
    arrays = folder / ARRAYS_DIR
    if arrays.is_dir():
        return {  # plain ndarray views of the maps (the map lives as long as they do)
            f.stem: np.asarray(np.load(f, mmap_mode="c", allow_pickle=False))
            for f in sorted(arrays.glob("*.npy"))
        }
    with np.load(folder / ARRAYS_FILE, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}
