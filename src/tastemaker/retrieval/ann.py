"""Approximate nearest-neighbour search over item vectors (faiss, inner product).

``AnnIndex.fit`` builds the index and calibrates its search breadth (``nprobe`` for IVF,
``efSearch`` for HNSW, the re-ranking factor for fast-scan PQ) on sample queries until
recall@``recall_k`` against exact search reaches ``target_recall``. Small catalogs use an
exact flat index. Larger ones use a fast-scan product quantizer over every item (4-bit
codes compared with SIMD) whose best ``recall_k x factor`` hits are re-scored exactly,
or IVF when that misses the target: ALS factors are not clustered enough for IVF to
skip much (at recall 0.95 it scans about a third of its lists). The index is saved in
faiss's own format plus a small JSON file.
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path
from typing import Any, Literal, Self

import faiss
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tastemaker.errors import NotFittedError, ValidationFailedError

_LOCAL = threading.local()
INDEX_FILE = "ann.faiss"
META_FILE = "ann.json"


class AnnConfig(BaseModel):
    """How the index is built and how hard it searches."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["auto", "flat", "pqfs", "ivf", "hnsw"] = "auto"
    target_recall: float = Field(default=0.95, gt=0, le=1)
    recall_k: int = Field(default=100, ge=1)
    exact_below: int = Field(default=20_000, ge=0, description="auto: flat index below this")
    nlist: int | None = Field(default=None, ge=1, description="IVF lists (default 4 sqrt(n))")
    hnsw_m: int = Field(default=32, ge=4)
    quantize: Literal["none", "sq8"] = Field(
        default="sq8", description="IVF list storage: float32 or 8-bit (4x less memory traffic)"
    )
    calibration_queries: int = Field(default=1000, ge=10)
    margin: float = Field(default=0.01, ge=0, description="calibrate to target + margin")
    seed: int = 0


def recall_at_k(approx: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of the exact top-k found by the approximate search (per query)."""
    hits = [
        len(np.intersect1d(a[a >= 0], e[e >= 0])) / max(int((e >= 0).sum()), 1)
        for a, e in zip(approx, exact, strict=True)
    ]
    return float(np.mean(hits)) if hits else 1.0


class AnnIndex:
    """Inner-product search over item vectors.

    Args:
        config: build and calibration settings.
    """

    def __init__(self, config: AnnConfig | None = None) -> None:
        self.config = config or AnnConfig()

    def fit(self, vectors: np.ndarray, queries: np.ndarray | None = None) -> Self:
        """Index ``vectors`` (``[n_items, d]``) and calibrate on ``queries`` (default: items).

        Half of the sampled queries set the search breadth (to ``target_recall + margin``);
        ``recall_`` is measured on the other half.

        Raises:
            ValidationFailedError: vectors are not a non-empty 2-D array.
        """
        x = np.ascontiguousarray(vectors, dtype=np.float32)
        if x.ndim != 2 or x.shape[0] == 0:
            raise ValidationFailedError(f"ANN vectors must be [n, d] with n > 0, got {x.shape}")
        cfg = self.config
        kind = cfg.kind
        auto = kind == "auto"
        if auto:
            kind = "flat" if x.shape[0] < cfg.exact_below else "pqfs"
        if kind == "pqfs" and x.shape[1] % 2:
            kind = "ivf"  # fast-scan codes come in pairs of dimensions
        self._fit(kind, x, queries)
        if auto and kind == "pqfs" and self.recall_ < cfg.target_recall:
            self._fit("ivf", x, queries)
        return self

    def _fit(self, kind: str, x: np.ndarray, queries: np.ndarray | None) -> None:
        self.kind_ = kind
        self.n_items_ = x.shape[0]
        self.quantized_ = kind == "ivf" and self.config.quantize == "sq8"
        self.index_ = self._build(kind, x)
        self.recall_ = 1.0
        if kind != "flat":
            self.recall_ = self._calibrate(x, queries)
            if self.quantized_ and self.recall_ < self.config.target_recall:
                self.quantized_ = False  # 8-bit codes too coarse here: keep float32 lists
                self.index_ = self._build(kind, x)
                self.recall_ = self._calibrate(x, queries)

    def _build(self, kind: str, x: np.ndarray) -> Any:
        n, d = x.shape
        index: Any
        if kind == "flat":
            index = faiss.IndexFlatIP(d)
        elif kind == "pqfs":  # one 4-bit sub-quantizer per dimension, exact re-ranking
            index = faiss.index_factory(d, f"PQ{d}x4fs,RFlat", faiss.METRIC_INNER_PRODUCT)
            index.train(x)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(d, self.config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 2 * self.config.hnsw_m
        else:
            nlist = self.config.nlist or max(1, min(n // 39, int(4 * math.sqrt(n))))
            quantizer = faiss.IndexFlatIP(d)
            if self.quantized_:
                qtype = faiss.ScalarQuantizer.QT_8bit
                index = faiss.IndexIVFScalarQuantizer(
                    quantizer, d, nlist, qtype, faiss.METRIC_INNER_PRODUCT
                )
            else:
                index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
            index.cp.seed = self.config.seed
            index.train(x)
        index.add(x)
        return index

    def _calibrate(self, x: np.ndarray, queries: np.ndarray | None) -> float:
        cfg = self.config
        rng = np.random.default_rng(cfg.seed)
        pool = x if queries is None or len(queries) == 0 else np.asarray(queries, np.float32)
        take = rng.choice(len(pool), min(cfg.calibration_queries, len(pool)), replace=False)
        half = max(1, len(take) // 2)
        q = np.ascontiguousarray(pool[take[:half]], dtype=np.float32)
        held = np.ascontiguousarray(pool[take[half:]] if len(take) > 1 else q, dtype=np.float32)
        k = min(cfg.recall_k, self.n_items_)
        exact = faiss.IndexFlatIP(x.shape[1])
        exact.add(x)
        _, truth = exact.search(q, k)
        _, held_truth = exact.search(held, k)
        target = min(1.0, cfg.target_recall + cfg.margin)
        limit = {"ivf": getattr(self.index_, "nlist", 1), "pqfs": 64}.get(self.kind_, 4096)

        def measure(breadth: int, queries: np.ndarray = q, truth: np.ndarray = truth) -> float:
            self._set_breadth(breadth)
            _, got = self.index_.search(queries, k)
            return recall_at_k(got, truth)

        hi = 1 if self.kind_ in ("ivf", "pqfs") else max(k, 16)
        recall = measure(hi)
        while recall < target and hi < limit:
            hi = min(limit, hi * 2)
            recall = measure(hi)
        lo = hi // 2
        while recall >= target and hi - lo > max(1, hi // 16):
            mid = (lo + hi) // 2
            got = measure(mid)
            if got >= target:
                hi, recall = mid, got
            else:
                lo = mid
        return measure(hi, held, held_truth)

    def _set_breadth(self, breadth: int) -> None:
        if self.kind_ == "ivf":
            self.index_.nprobe = int(breadth)
        elif self.kind_ == "hnsw":
            self.index_.hnsw.efSearch = int(breadth)
        elif self.kind_ == "pqfs":
            self.index_.k_factor = float(breadth)
        self.breadth_ = int(breadth)

    def _params(self, k: int) -> Any:
        """Per-search parameters: fast-scan PQ re-scores ``recall_k x factor`` hits for any
        ``k`` (the same candidates as at calibration, so the same recall of the top
        ``recall_k``), at least ``k``."""
        if self.kind_ != "pqfs":
            return None
        params = faiss.IndexRefineSearchParameters()
        params.k_factor = max(1.0, self.breadth_ * self.config.recall_k / max(k, 1))
        return params

    def _check(self) -> None:
        if not hasattr(self, "index_"):
            raise NotFittedError("the ANN index is not built: call fit() or load() first")

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` items with the largest inner product per query (-1 padded)."""
        self._check()
        if not getattr(_LOCAL, "single", False):
            # OpenMP's thread count is per calling thread: request threads search alone
            # (one query gains nothing from a team, and idle OpenMP workers spin).
            faiss.omp_set_num_threads(1)
            _LOCAL.single = True
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = min(k, self.n_items_)
        params = self._params(k)
        if params is None:
            scores, idx = self.index_.search(q, k)
        else:
            scores, idx = self.index_.search(q, k, params=params)
        return idx.astype(np.int64), scores.astype(np.float32)

    def save(self, folder: Path) -> None:
        """Write ``ann.faiss`` (faiss format) and ``ann.json`` into ``folder``."""
        self._check()
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index_, str(out / INDEX_FILE))
        meta = {
            "kind": self.kind_,
            "recall": self.recall_,
            "n_items": self.n_items_,
            "breadth": getattr(self, "breadth_", 0),
            "config": self.config.model_dump(),
        }
        (out / META_FILE).write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, folder: Path) -> AnnIndex:
        """Read an index written by :meth:`save`."""
        meta = json.loads((Path(folder) / META_FILE).read_text())
        obj = cls(AnnConfig.model_validate(meta["config"]))
        obj.index_ = faiss.read_index(str(Path(folder) / INDEX_FILE))
        obj.kind_, obj.recall_, obj.n_items_ = meta["kind"], meta["recall"], meta["n_items"]
        if obj.kind_ != "flat":
            obj._set_breadth(meta["breadth"])
        return obj
