"""Basket completion: one hidden item per basket, counted as a hit when recommended back."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy import stats

from tastemaker.evaluation.basket import basket_completion, hide_one
from tastemaker.evaluation.protocols import seed_interval
from tastemaker.models import Interactions, make_model


def test_hide_one_keeps_the_rest_of_each_basket() -> None:
    baskets = sp.csr_matrix(np.array([[1, 1, 1, 0], [0, 1, 0, 0], [1, 0, 0, 1]], dtype=np.float32))
    rest, hidden = hide_one(baskets, seed=3)
    assert rest.shape[0] == 2 and len(hidden) == 2  # the one-item basket is skipped
    full = baskets[[0, 2]].toarray()
    np.testing.assert_array_equal(rest.toarray() + np.eye(4)[hidden], full)


def test_fbt_completes_baskets_popularity_cannot() -> None:
    # training baskets always pair item 2k with 2k+1; item 9 is the most popular item
    pairs = [(2 * k, 2 * k + 1) for k in range(4)] * 5
    items = np.array([i for p in pairs for i in p] + [9] * 30)
    sessions = np.array(
        [f"b{n}" for n, p in enumerate(pairs) for _ in p] + [f"x{n}" for n in range(30)]
    )
    users = np.unique(sessions, return_inverse=True)[1]  # one shopper per basket
    inter = Interactions.from_arrays(users, items, sessions=sessions, n_items=10)
    test = sp.csr_matrix(
        (np.ones(8, np.float32), (np.repeat(np.arange(4), 2), np.arange(8))), shape=(4, 10)
    )
    fbt = basket_completion(make_model("fbt").fit(inter), test, k=1, n_bootstrap=10)
    pop = basket_completion(make_model("popularity").fit(inter), test, k=1, n_bootstrap=10)
    assert fbt["hit_rate"].mean == 1.0  # type: ignore[union-attr]
    assert pop["hit_rate"].mean == 0.0  # type: ignore[union-attr]
    assert fbt["baskets"] == 4


def test_seed_interval_is_a_student_t_interval() -> None:
    values = [0.47, 0.48, 0.49, 0.485, 0.475]
    ours = seed_interval(values)
    low, high = stats.t.interval(0.95, 4, loc=np.mean(values), scale=stats.sem(values))
    assert abs(ours["low"] - low) < 1e-12 and abs(ours["high"] - high) < 1e-12
