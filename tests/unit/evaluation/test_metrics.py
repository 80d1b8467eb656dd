"""Metrics against hand-worked examples and against a second, loop-based implementation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from tastemaker.evaluation.metrics import (
    accuracy_at_k,
    average_precision_over_relevant,
    bootstrap_ci,
    catalog_coverage,
    intra_list_diversity,
    novelty,
    popularity_gini,
)


def rel_matrix(rows: list[list[int]], n_items: int) -> sp.csr_matrix:
    data = [(u, i) for u, items in enumerate(rows) for i in items]
    u, i = zip(*data, strict=True) if data else ((), ())
    return sp.csr_matrix((np.ones(len(u)), (u, i)), shape=(len(rows), n_items))


def test_hand_worked_example() -> None:
    # user 0: recs [3, 1, 7], relevant {1, 7, 9}: hits at ranks 2 and 3
    # user 1: recs [5, 6, -1 (padding)], relevant {5}: hit at rank 1
    recs = np.array([[3, 1, 7], [5, 6, -1]])
    rel = rel_matrix([[1, 7, 9], [5]], 10)
    m = accuracy_at_k(recs, rel, 3)
    np.testing.assert_allclose(m["precision"], [2 / 3, 1 / 3])
    np.testing.assert_allclose(m["recall"], [2 / 3, 1.0])
    dcg0 = 1 / math.log2(3) + 1 / math.log2(4)
    idcg0 = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    np.testing.assert_allclose(m["ndcg"], [dcg0 / idcg0, 1.0])
    np.testing.assert_allclose(m["map"], [(1 / 2 + 2 / 3) / 3, 1.0])
    np.testing.assert_allclose(m["mrr"], [1 / 2, 1.0])
    np.testing.assert_allclose(m["hit_rate"], [1.0, 1.0])
    np.testing.assert_allclose(
        average_precision_over_relevant(recs, rel, 3), [(1 / 2 + 2 / 3) / 3, 1.0]
    )


def test_users_without_hits_score_zero() -> None:
    m = accuracy_at_k(np.array([[0, 1]]), rel_matrix([[5]], 6), 2)
    assert all(v[0] == 0.0 for v in m.values())


def reference(recs: np.ndarray, relevant: list[set[int]], k: int) -> dict[str, list[float]]:
    """Straightforward per-user loops, written independently of the vectorized code."""
    out: dict[str, list[float]] = {m: [] for m in ("precision", "recall", "ndcg", "map", "mrr")}
    for row, rel in zip(recs, relevant, strict=True):
        top = [int(x) for x in row[:k]]
        hits = [1 if x in rel else 0 for x in top]
        out["precision"].append(sum(hits) / k)
        out["recall"].append(sum(hits) / len(rel) if rel else 0.0)
        dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
        idcg = sum(1 / math.log2(r + 2) for r in range(min(len(rel), k)))
        out["ndcg"].append(dcg / idcg if idcg else 0.0)
        ap, found = 0.0, 0
        for r, h in enumerate(hits):
            if h:
                found += 1
                ap += found / (r + 1)
        out["map"].append(ap / min(len(rel), k) if rel else 0.0)
        first = next((r for r, h in enumerate(hits) if h), None)
        out["mrr"].append(1 / (first + 1) if first is not None else 0.0)
    return out


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 12))
def test_matches_reference_on_random_data(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    n_users, n_items = 30, 25
    recs = np.stack([rng.permutation(n_items)[:k] for _ in range(n_users)])
    relevant = [
        set(rng.choice(n_items, rng.integers(1, 8), replace=False).tolist()) for _ in range(n_users)
    ]
    ours = accuracy_at_k(recs, rel_matrix([sorted(r) for r in relevant], n_items), k)
    for name, values in reference(recs, relevant, k).items():
        np.testing.assert_allclose(ours[name], values, err_msg=name)
    for name in ("precision", "recall", "ndcg", "map", "mrr", "hit_rate"):
        assert ((ours[name] >= 0) & (ours[name] <= 1 + 1e-12)).all()


def test_coverage_and_gini() -> None:
    recs = np.array([[0, 1], [0, 1], [0, -1]])
    assert catalog_coverage(recs, 4) == pytest.approx(0.5)
    # counts sorted: [0, 0, 2, 3]; Gini = sum((2i - n - 1) x_i) / (n sum x)
    expected = ((2 * 3 - 5) * 2 + (2 * 4 - 5) * 3) / (4 * 5)
    assert popularity_gini(recs, 4) == pytest.approx(expected)
    assert popularity_gini(np.array([[0], [1], [2], [3]]), 4) == pytest.approx(0.0)


def test_novelty_is_self_information() -> None:
    pop = np.array([50.0, 25.0, 1.0])
    nov = novelty(np.array([[0, 1], [2, -1]]), pop, 100)
    np.testing.assert_allclose(nov, [(1 + 2) / 2, -math.log2(0.01)])


def test_intra_list_diversity_matches_pairwise_loop() -> None:
    rng = np.random.default_rng(3)
    vectors = sp.csr_matrix(rng.random((12, 6)) * (rng.random((12, 6)) < 0.5))
    recs = np.stack([rng.permutation(12)[:4] for _ in range(5)])
    dense = vectors.toarray()
    expected = []
    for row in recs:
        dists = []
        for a in range(4):
            for b in range(a + 1, 4):
                va, vb = dense[row[a]], dense[row[b]]
                na, nb = np.linalg.norm(va), np.linalg.norm(vb)
                cos = va @ vb / (na * nb) if na and nb else 0.0
                dists.append(1 - cos)
        expected.append(np.mean(dists))
    np.testing.assert_allclose(intra_list_diversity(recs, vectors), expected, atol=1e-9)


def test_bootstrap_interval_agrees_with_scipy() -> None:
    rng = np.random.default_rng(0)
    values = rng.beta(2, 5, size=400)
    ours = bootstrap_ci(values, n_resamples=4000, seed=1)
    ref = stats.bootstrap((values,), np.mean, n_resamples=4000, method="percentile", rng=2)
    assert ours.mean == pytest.approx(values.mean())
    assert ours.low == pytest.approx(ref.confidence_interval.low, abs=0.004)
    assert ours.high == pytest.approx(ref.confidence_interval.high, abs=0.004)
    assert ours.low < ours.mean < ours.high
