"""Known answers of individual models beyond the shared contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp
from tests.unit.models.toydata import Toy

from tastemaker.errors import ValidationFailedError
from tastemaker.models import (
    MODELS,
    Interactions,
    Recommender,
    Row,
    load_model,
    make_model,
    model_class,
)
from tastemaker.models.als import ALSRecommender
from tastemaker.models.hybrid import simplex_grid
from tastemaker.models.scores import standardize

DAY = 86_400_000


def test_popularity_time_decay_prefers_recent_engagement() -> None:
    # item 0: 3 users 100 days ago; item 1: 2 users today
    users = np.array([0, 1, 2, 3, 4])
    items = np.array([0, 0, 0, 1, 1])
    ts = np.array([0, 0, 0, 100 * DAY, 100 * DAY])
    inter = Interactions.from_arrays(users, items, timestamps=ts)
    plain = make_model("popularity").fit(inter)
    decayed = make_model("popularity", half_life_days=10.0).fit(inter)
    assert plain.recommend(np.array([0]), 1)[0][0, 0] == 0
    assert decayed.recommend(np.array([0]), 1)[0][0, 0] == 1


def test_popularity_by_category_lifts_the_users_category(toy: Toy) -> None:
    model = make_model("popularity", by="category").fit(toy.interactions, toy.items)
    history = sp.csr_matrix(([1.0], ([0], [12])), shape=(1, toy.interactions.n_items))
    idx, _ = model.recommend_from_history(history, 1, exclude=history)
    assert idx[0, 0] == 10  # the most popular "beta" item
    with pytest.raises(ValidationFailedError):
        make_model("popularity", by="category").fit(toy.interactions, None)


def test_fbt_confidence_and_lift() -> None:
    # baskets: {0,1}, {0,1}, {0,2}, {3}; confidence(0->1) = 2/3, lift(0,1) = 2*4/(3*2)
    sessions = np.array(["a", "a", "b", "b", "c", "c", "d"])
    inter = Interactions.from_arrays(
        np.zeros(7, int), np.array([0, 1, 0, 1, 0, 2, 3]), sessions=sessions
    )
    conf = make_model("fbt", min_support=1).fit(inter)
    lift = make_model("fbt", min_support=1, measure="lift").fit(inter)
    assert conf.associations_[0, 1] == pytest.approx(2 / 3)  # type: ignore[attr-defined]
    assert lift.associations_[0, 1] == pytest.approx(8 / 6)  # type: ignore[attr-defined]
    strict = make_model("fbt", min_support=2).fit(inter)
    assert strict.associations_[0, 2] == 0  # type: ignore[attr-defined]
    basket = sp.csr_matrix(([1.0], ([0], [0])), shape=(1, 4))
    assert conf.recommend_from_history(basket, 1, exclude=basket)[0][0, 0] == 1


def test_session_model_follows_transitions() -> None:
    # every session goes 0 -> 1 -> 2; a visitor who just saw 1 should get 2 next
    users = np.repeat(np.arange(10), 3)
    items = np.tile([0, 1, 2], 10)
    ts = np.tile([0, 60_000, 120_000], 10) + np.repeat(np.arange(10) * DAY, 3)
    inter = Interactions.from_arrays(users, items, timestamps=ts, n_items=4)
    model = make_model("session", window=1).fit(inter)
    current = sp.csr_matrix(([1.0], ([0], [1])), shape=(1, 4))
    assert model.recommend_from_history(current, 1, exclude=current)[0][0, 0] == 2


def test_als_fold_in_reproduces_a_known_user(toy: Toy) -> None:
    model = make_model("als", factors=4, regularization=0.1, iterations=30, num_threads=1)
    model.fit(toy.interactions)
    known = model.recommend(np.arange(5), 5, exclude=toy.interactions.matrix[:5])[0]
    folded = model.recommend_from_history(
        toy.interactions.matrix[:5], 5, exclude=toy.interactions.matrix[:5]
    )[0]
    assert (known[:, :3] == folded[:, :3]).mean() >= 0.8


def test_hybrid_search_picks_weights_on_the_simplex(toy: Toy) -> None:
    model = make_model(
        "hybrid",
        components=["popularity", "ease"],
        params={"ease": {"l2": 5.0}},
        grid_step=0.25,
        max_validation_users=40,
    ).fit(toy.interactions)
    weights = model.weights_  # type: ignore[attr-defined]
    assert weights.sum() == pytest.approx(1.0) and len(weights) == 2
    assert weights[1] >= 0.5  # the cluster-aware component dominates on cluster data
    assert len(simplex_grid(3, 0.1)) == 66
    z = standardize(np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]]))
    np.testing.assert_allclose(z[0], [-1.2247449, 0.0, 1.2247449], rtol=1e-5)
    assert (z[1] == 0).all()


def test_content_needs_a_catalog(toy: Toy) -> None:
    with pytest.raises(ValidationFailedError):
        make_model("content").fit(toy.interactions, None)
    with pytest.raises(ValidationFailedError):
        make_model("content", encoder="/nonexistent").fit(
            toy.interactions, toy.items.with_columns(pl.lit("x").alias("text"))
        )


def test_unknown_model_and_parameter() -> None:
    with pytest.raises(ValidationFailedError, match="unknown model"):
        make_model("svd")
    with pytest.raises(ValidationFailedError):
        make_model("ease", lambda_=3)


def test_ease_refuses_a_catalog_too_large() -> None:
    inter = Interactions.from_arrays(np.array([0]), np.array([0]), n_items=50)
    with pytest.raises(ValidationFailedError, match="max_items"):
        make_model("ease", max_items=10).fit(inter)


def test_factor_fast_path_matches_dense_scoring(toy: Toy) -> None:
    from tastemaker.models.base import Recommender

    model = make_model("als", factors=4, iterations=5, num_threads=1).fit(toy.interactions)
    exclude = toy.interactions.matrix
    fast = model.recommend(np.arange(40), 6, exclude=exclude, candidates=np.arange(15))
    dense = Recommender._batched(
        model, np.arange(40), 6, exclude, np.arange(15), model._score_users
    )
    np.testing.assert_allclose(fast[1], dense[1], rtol=1e-5)
    assert ((fast[0] == -1) == (dense[0] == -1)).all()


def test_popularity_per_user_segment(toy: Toy, tmp_path: Path) -> None:
    users = pl.DataFrame(
        {"user_id": [str(u) for u in range(40)], "segment": ["x"] * 20 + ["y"] * 20}
    )
    model = make_model("popularity").fit(toy.interactions)
    model.fit_segments(toy.interactions, users, "segment")  # type: ignore[attr-defined]
    x = model.recommend_segment("x", 1)[0][0, 0]  # type: ignore[attr-defined]
    y = model.recommend_segment("y", 1)[0][0, 0]  # type: ignore[attr-defined]
    assert (x, y) == (0, 10)  # each segment's head item
    model.save(tmp_path / "p")
    loaded = load_model(tmp_path / "p")
    assert loaded.recommend_segment("y", 1)[0][0, 0] == 10  # type: ignore[attr-defined]
    unknown = loaded.recommend_segment("zz", 2)[0][0]  # type: ignore[attr-defined]
    assert set(unknown.tolist()) == {0, 10}


def test_als_log_confidence_keeps_binary_data() -> None:
    m = sp.csr_matrix(np.array([[1.0, 8.0, 0.5]], dtype=np.float32))
    als = make_model("als")
    np.testing.assert_allclose(
        als._confidence(m).toarray(),  # type: ignore[attr-defined]
        [[1.0, 1.0 + np.log(8.0), 0.5]],
        rtol=1e-6,
    )
    linear = make_model("als", confidence="linear")
    np.testing.assert_allclose(linear._confidence(m).toarray(), m.toarray())  # type: ignore[attr-defined]


def test_als_is_invariant_to_the_scale_of_event_weights(toy: Toy) -> None:
    log = toy.interactions.log
    tripled = toy.interactions.with_log(log.with_columns(pl.col("weight") * 3.0))
    params = {"factors": 4, "iterations": 5, "num_threads": 1}
    a = make_model("als", **params).fit(toy.interactions)
    b = make_model("als", **params).fit(tripled)
    np.testing.assert_allclose(a.item_factors_, b.item_factors_, rtol=1e-4, atol=1e-5)  # type: ignore[attr-defined]


def test_standardize_treats_minus_inf_as_the_lowest_score() -> None:
    z = standardize(np.array([[1.0, -np.inf, 3.0]]))
    assert np.isfinite(z).all()
    assert z[0, 1] == z[0, 0] < z[0, 2]


def test_itemknn_similar_items_are_only_true_neighbours(toy: Toy) -> None:
    model = make_model("itemknn", neighbors=3).fit(toy.interactions)
    idx, scores = model.similar_items(np.array([0]), 10)
    assert (idx[0, :3] >= 0).all() and (idx[0, 3:] == -1).all()
    assert np.isneginf(scores[0, 3:]).all()


def test_als_user_vector_is_the_fold_in_and_reuses_its_last_answer(toy: Toy) -> None:
    als = ALSRecommender(factors=4, iterations=5, num_threads=1).fit(toy.interactions)
    history = sp.csr_matrix(toy.interactions.matrix[11])
    row = Row.of(history)
    expected = als.fold_in(history)[0]
    np.testing.assert_allclose(als.user_vector(row), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(als.user_vector(history), expected, rtol=1e-5, atol=1e-6)
    assert als.user_vector(row) is als.user_vector(row)  # serving asks twice per request
    assert not als.user_vector(Row.of(sp.csr_matrix((1, 21)))).any()


def test_the_catalog_holds_every_named_model_class() -> None:
    def subclasses(cls: type[Recommender]) -> list[type[Recommender]]:
        return [s for c in cls.__subclasses__() for s in (c, *subclasses(c))]

    named = {c.name: c for c in subclasses(Recommender) if "name" in c.__dict__}
    assert named == dict(MODELS)
    assert next(iter(MODELS)) == "popularity"  # the baseline heads every table


def test_a_model_class_loads_only_its_own_models(toy: Toy, tmp_path: Path) -> None:
    make_model("popularity").fit(toy.interactions).save(tmp_path / "p")
    with pytest.raises(ValidationFailedError, match="'popularity' model, not a ALSRecommender"):
        model_class("als").load(tmp_path / "p")
    assert load_model(tmp_path / "p").name == "popularity"
    assert model_class("popularity").load(tmp_path / "p").is_trained()
