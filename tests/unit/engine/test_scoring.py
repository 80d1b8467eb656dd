"""The candidate scorer gives the model's own numbers while touching only the candidates."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from tastemaker.engine.scoring import ALSFoldIn, CandidateScorer
from tastemaker.models.catalog import make_model
from tastemaker.models.interactions import Interactions


@pytest.fixture
def inter() -> Interactions:
    rng = np.random.default_rng(0)
    users = rng.integers(0, 60, 1500)
    items = (users % 6) * 8 + rng.integers(0, 12, 1500)  # six overlapping taste groups
    return Interactions.from_arrays(users, items % 50, rng.uniform(1, 4, 1500), n_items=50)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("als", {"factors": 8, "iterations": 5}),
        ("itemknn", {"neighbors": 10}),
        (
            "hybrid",
            {
                "components": ["itemknn", "als"],
                "weights": [0.3, 0.7],
                "params": {"als": {"factors": 8, "iterations": 5}},
            },
        ),
    ],
)
def test_scores_match_score_items(inter: Interactions, name: str, params: dict) -> None:  # type: ignore[type-arg]
    model = make_model(name, **params).fit(inter)
    scorer = CandidateScorer(model)
    assert scorer.fast
    history = sp.csr_matrix(inter.matrix[7])
    candidates = np.array([3, 0, 49, 17, 17, 25])
    expected = model.score_items(history, candidates)[0]
    np.testing.assert_allclose(scorer.score(history, candidates), expected, rtol=1e-3, atol=1e-4)


def test_other_models_fall_back_to_score_items(inter: Interactions) -> None:
    model = make_model("popularity").fit(inter)
    scorer = CandidateScorer(model)
    assert not scorer.fast
    history = sp.csr_matrix(inter.matrix[2])
    np.testing.assert_array_equal(
        scorer.score(history, np.array([1, 2])), model.score_items(history, np.array([1, 2]))[0]
    )


def test_fold_in_matches_the_model_and_reuses_its_last_answer(inter: Interactions) -> None:
    als = make_model("als", factors=8, iterations=5).fit(inter)
    fold = ALSFoldIn(als)  # type: ignore[arg-type]
    history = sp.csr_matrix(inter.matrix[11])
    np.testing.assert_allclose(fold.vector(history), als.fold_in(history)[0], rtol=1e-4, atol=1e-5)  # type: ignore[attr-defined]
    assert fold.vector(history) is fold.vector(history)
    assert not fold.vector(sp.csr_matrix((1, 50), dtype=np.float32)).any()
