"""The ANN index: exact when flat, calibrated IVF / HNSW reach the recall target."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from tastemaker.errors import NotFittedError, ValidationFailedError
from tastemaker.retrieval.ann import AnnConfig, AnnIndex, recall_at_k


def _clustered(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(20, d))
    items = centers[rng.integers(0, 20, n)] + 0.3 * rng.normal(size=(n, d))
    users = centers[rng.integers(0, 20, 400)] + 0.3 * rng.normal(size=(400, d))
    return items.astype(np.float32), users.astype(np.float32)


def _exact(items: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    scores = queries @ items.T
    return np.argsort(-scores, axis=1)[:, :k]


def test_flat_index_is_exact() -> None:
    items, users = _clustered(500, 8, 0)
    index = AnnIndex().fit(items)
    assert index.kind_ == "flat" and index.recall_ == 1.0
    got, scores = index.search(users[:5], 10)
    assert recall_at_k(got, _exact(items, users[:5], 10)) == 1.0
    np.testing.assert_allclose(scores[0], np.sort(users[0] @ items.T)[::-1][:10], rtol=1e-5)


@pytest.mark.parametrize("kind", ["pqfs", "ivf", "hnsw"])
def test_calibrated_index_reaches_the_recall_target(kind: str) -> None:
    items, users = _clustered(6000, 16, 1)
    if kind == "hnsw":  # graph search suits angular data; ALS factors go to IVF
        items /= np.linalg.norm(items, axis=1, keepdims=True)
    cfg = AnnConfig(kind=kind, target_recall=0.95, calibration_queries=200, hnsw_m=16)
    index = AnnIndex(cfg).fit(items, users[:200])
    got, _ = index.search(users[200:], 100)
    assert recall_at_k(got, _exact(items, users[200:], 100)) >= 0.95
    assert index.recall_ >= 0.9


def test_large_catalogs_get_fast_scan_pq_with_exact_reranking() -> None:
    items, users = _clustered(6000, 16, 3)
    cfg = AnnConfig(exact_below=5000, calibration_queries=200)
    index = AnnIndex(cfg).fit(items, users[:200])
    assert index.kind_ == "pqfs" and index.recall_ >= 0.95
    got, scores = index.search(users[200:260], 200)  # a wider k keeps the top-100 recall
    assert recall_at_k(got[:, :100], _exact(items, users[200:260], 100)) >= 0.95
    exact = np.take_along_axis(users[200:260] @ items.T, got, axis=1)
    np.testing.assert_allclose(scores, exact, rtol=1e-4, atol=1e-4)  # re-scored exactly
    odd = AnnIndex(AnnConfig(kind="pqfs", calibration_queries=50)).fit(items[:, :15])
    assert odd.kind_ == "ivf"  # fast-scan codes pair dimensions


@pytest.mark.parametrize("kind", ["ivf", "pqfs"])
def test_save_and_load_round_trip(tmp_path: Path, kind: str) -> None:
    items, users = _clustered(3000, 8, 2)
    index = AnnIndex(AnnConfig(kind=kind, calibration_queries=100)).fit(items, users)
    index.save(tmp_path / "ann")
    assert (tmp_path / "ann" / "ann.faiss").is_file()
    assert isinstance(faiss.read_index(str(tmp_path / "ann" / "ann.faiss")), faiss.Index)
    again = AnnIndex.load(tmp_path / "ann")
    np.testing.assert_array_equal(again.search(users[:3], 20)[0], index.search(users[:3], 20)[0])
    assert again.breadth_ == index.breadth_


def test_errors() -> None:
    with pytest.raises(NotFittedError):
        AnnIndex().search(np.zeros(4, np.float32), 3)
    with pytest.raises(ValidationFailedError):
        AnnIndex().fit(np.zeros((0, 4), np.float32))


def test_recall_at_k_by_hand() -> None:
    assert recall_at_k(np.array([[1, 2, 3]]), np.array([[3, 4, 5]])) == pytest.approx(1 / 3)
