"""One contract every recommender passes (like implicit's RecommenderBaseTestMixin)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from tests.unit.models.toydata import N_ITEMS, N_USERS, TEST_PARAMS, Toy

from tastemaker.errors import NotFittedError, ValidationFailedError
from tastemaker.models import MODELS, Recommender, Row, load_model, make_model
from tastemaker.models.scores import standardize

ALL = sorted(MODELS)
# models whose recommendations follow the taste clusters on the toy data
CLUSTER_AWARE = [m for m in ALL if m != "popularity"]
# the blend serving uses: both components score candidates without the whole catalog
FAST_HYBRID = {
    "components": ["itemknn", "als"],
    "weights": [0.3, 0.7],
    "params": {"itemknn": TEST_PARAMS["itemknn"], "als": TEST_PARAMS["als"]},
}

_fitted: dict[str, Recommender] = {}


def fitted(name: str, toy: Toy) -> Recommender:
    """Fit each model once per test session (``hybrid-fast``: the FAST_HYBRID blend)."""
    if name not in _fitted:
        model = make_model(
            "hybrid" if name == "hybrid-fast" else name,
            **(FAST_HYBRID if name == "hybrid-fast" else TEST_PARAMS.get(name, {})),
        )
        _fitted[name] = model.fit(toy.interactions, toy.items)
    return _fitted[name]


@pytest.mark.parametrize("name", ALL)
def test_use_before_fit_raises_not_fitted(name: str, tmp_path: Path) -> None:
    model = make_model(name)
    assert not model.is_trained()
    with pytest.raises(NotFittedError):
        model.recommend(np.array([0]), 3)
    with pytest.raises(NotFittedError):
        model.score_candidates(Row(np.array([0]), np.ones(1, np.float32)), np.array([1]))
    with pytest.raises(NotFittedError):
        model.similar_items(np.array([0]), 3)
    with pytest.raises(NotFittedError):
        model.save(tmp_path / "m")


@pytest.mark.parametrize("name", ALL)
def test_fit_returns_self_and_is_trained(name: str, toy: Toy) -> None:
    model = make_model(name, **TEST_PARAMS.get(name, {}))
    assert model.fit(toy.interactions, toy.items) is model
    assert model.is_trained()
    assert model.n_items == N_ITEMS


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("k", [1, 5, N_ITEMS + 4])
def test_recommend_shape_dtype_and_padding(name: str, k: int, toy: Toy) -> None:
    users = np.arange(N_USERS)
    idx, scores = fitted(name, toy).recommend(users, k, exclude=toy.interactions.matrix)
    assert idx.shape == (N_USERS, k) and scores.shape == (N_USERS, k)
    assert idx.dtype == np.int64 and scores.dtype == np.float32
    assert ((idx >= -1) & (idx < N_ITEMS)).all()
    seen = np.diff(toy.interactions.matrix.indptr)
    # every unseen item can fill the list, the rest is padding
    assert ((idx >= 0).sum(axis=1) == np.minimum(k, N_ITEMS - seen)).all()
    assert (idx[idx < 0].size == 0) or np.isneginf(scores[idx < 0]).all()
    valid = scores[:, :-1] >= scores[:, 1:]
    assert valid[(idx[:, 1:] >= 0)].all(), "scores must be sorted best first"


@pytest.mark.parametrize("name", ALL)
def test_excluded_items_are_never_returned(name: str, toy: Toy) -> None:
    rng = np.random.default_rng(1)
    exclude = sp.csr_matrix(rng.random((N_USERS, N_ITEMS)) < 0.4, dtype=np.float32)
    idx, _ = fitted(name, toy).recommend(np.arange(N_USERS), 8, exclude=exclude)
    rows = np.repeat(np.arange(N_USERS), 8)
    ok = idx.ravel() >= 0
    assert (exclude[rows[ok], idx.ravel()[ok]] == 0).all()


@pytest.mark.parametrize("name", ALL)
def test_candidates_restrict_the_list(name: str, toy: Toy) -> None:
    candidates = np.array([1, 3, 12, 20])
    idx, _ = fitted(name, toy).recommend(np.arange(5), 6, candidates=candidates)
    assert set(idx[idx >= 0].tolist()) <= set(candidates.tolist())
    assert (idx[:, 4:] == -1).all()


@pytest.mark.parametrize("name", ALL)
def test_save_load_round_trip_gives_identical_output(name: str, toy: Toy, tmp_path: Path) -> None:
    model = fitted(name, toy)
    model.save(tmp_path / name)
    loaded = load_model(tmp_path / name)
    assert type(loaded) is type(model) and loaded.is_trained()
    assert loaded.get_params() == model.get_params()
    assert (loaded.items_.ids == model.items_.ids).all()
    users = np.arange(N_USERS)
    for a, b in [
        (model.recommend(users, 5), loaded.recommend(users, 5)),
        (model.similar_items(np.arange(N_ITEMS), 4), loaded.similar_items(np.arange(N_ITEMS), 4)),
        (
            model.recommend_from_history(toy.interactions.matrix[:7], 5),
            loaded.recommend_from_history(toy.interactions.matrix[:7], 5),
        ),
    ]:
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_allclose(a[1], b[1], rtol=1e-6)
    assert (tmp_path / name / "manifest.json").is_file()
    assert (tmp_path / name / "arrays.npz").is_file()


@pytest.mark.parametrize("name", ALL)
def test_similar_items_exclude_the_item_itself(name: str, toy: Toy) -> None:
    items = np.arange(N_ITEMS)
    idx, _ = fitted(name, toy).similar_items(items, 5)
    assert idx.shape == (N_ITEMS, 5)
    assert not (idx == items[:, None]).any()


@pytest.mark.parametrize("name", ALL)
def test_score_items_agree_with_recommend(name: str, toy: Toy) -> None:
    model = fitted(name, toy)
    users = np.arange(6)
    idx, scores = model.recommend(users, 4)
    again = model.score_items(users, idx)
    np.testing.assert_allclose(again, scores, rtol=1e-5, atol=1e-6)


def _histories(toy: Toy) -> dict[str, sp.csr_matrix]:
    """One-row histories: a known user, weighted fresh events (an item twice), nothing."""
    fresh = sp.csr_matrix(
        ([2.5, 1.0, 0.5, 1.5], ([0, 0, 0, 0], [11, 12, 3, 11])), shape=(1, N_ITEMS)
    )
    return {
        "user": sp.csr_matrix(toy.interactions.matrix[3]),
        "fresh": fresh,
        "empty": sp.csr_matrix((1, N_ITEMS), dtype=np.float32),
    }


def _assert_close(actual: np.ndarray, expected: np.ndarray) -> None:
    """Equal to 1e-5, relative to the largest score of the row (-inf where expected)."""
    finite = expected[np.isfinite(expected)]
    scale = float(np.abs(finite).max(initial=0.0))
    assert actual.dtype == np.float32 and actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5 * scale)


@pytest.mark.parametrize("name", [*ALL, "hybrid-fast"])
@pytest.mark.parametrize("history", ["user", "fresh", "empty"])
@pytest.mark.parametrize("standardized", [False, True])
def test_score_candidates_equal_score_items(
    name: str, history: str, standardized: bool, toy: Toy
) -> None:
    model = fitted(name, toy)
    row = _histories(toy)[history]
    candidates = np.array([3, 0, 20, 17, 17, 11, -1])
    full = model.score_items(row, np.arange(N_ITEMS))
    if standardized:
        full = standardize(full)
    expected = np.where(candidates >= 0, full[0, np.clip(candidates, 0, None)], -np.inf)
    for given in (row, Row.of(row)):
        scores = model.score_candidates(given, candidates, standardized=standardized)
        _assert_close(scores, expected)


@pytest.mark.parametrize("name", ALL)
def test_history_rows_must_match_the_item_vocabulary(name: str, toy: Toy) -> None:
    model = fitted(name, toy)
    with pytest.raises(ValidationFailedError):
        model.recommend_from_history(sp.csr_matrix((1, N_ITEMS + 1)), 3)
    with pytest.raises(ValidationFailedError, match="history"):
        model.score_candidates(sp.csr_matrix((2, N_ITEMS)), np.array([1]))
    with pytest.raises(ValidationFailedError, match="history"):
        model.score_candidates(Row(np.array([N_ITEMS]), np.ones(1, np.float32)), np.array([1]))
    with pytest.raises(ValidationFailedError, match="candidate"):
        model.score_candidates(sp.csr_matrix((1, N_ITEMS)), np.array([N_ITEMS]))


@pytest.mark.parametrize("name", CLUSTER_AWARE)
def test_known_answer_recommendations_follow_the_taste_cluster(name: str, toy: Toy) -> None:
    idx, _ = fitted(name, toy).recommend(
        np.arange(N_USERS), 3, exclude=toy.interactions.matrix, candidates=np.arange(20)
    )
    same = toy.item_cluster[idx] == toy.user_cluster[:, None]
    assert same.mean() >= 0.9, f"{name}: only {same.mean():.0%} in-cluster"


@pytest.mark.parametrize("name", CLUSTER_AWARE)
def test_known_answer_fresh_history_counts(name: str, toy: Toy) -> None:
    # a brand-new visitor who touched two "beta" items gets beta items back
    history = sp.csr_matrix(([1.0, 1.0], ([0, 0], [11, 12])), shape=(1, N_ITEMS))
    idx, _ = fitted(name, toy).recommend_from_history(
        history, 3, exclude=history, candidates=np.arange(20)
    )
    assert (toy.item_cluster[idx[0]] == 1).mean() >= 2 / 3


def test_known_answer_popularity_ranks_by_distinct_users(toy: Toy) -> None:
    idx, _ = fitted("popularity", toy).recommend(np.array([0]), 2)
    assert set(idx[0].tolist()) == {0, 10}  # each seen by all 20 users of its cluster


def test_factor_models_expose_float32_factors(toy: Toy) -> None:
    for name in ("als", "bpr"):
        model = fitted(name, toy)
        assert model.item_factors_.dtype == np.float32  # type: ignore[attr-defined]
        assert model.user_factors_.shape[0] == N_USERS  # type: ignore[attr-defined]


def test_content_recommends_an_item_without_interactions(toy: Toy) -> None:
    # item 20 has no events but shares the "alpha" text and category
    idx, _ = fitted("content", toy).similar_items(np.array([3]), 10)
    assert 20 in idx[0]
