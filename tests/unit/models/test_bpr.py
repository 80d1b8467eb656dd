"""BPR: implicit's popularity-proportional negatives are undone in the item bias."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from tests.unit.models.toydata import TEST_PARAMS, build_toy

from tastemaker.models.bpr import BPRRecommender, sampling_log_odds

TOY = build_toy()


def fit(correction: float) -> BPRRecommender:
    params = {**TEST_PARAMS["bpr"], "popularity_correction": correction, "num_threads": 1}
    return BPRRecommender(**params).fit(TOY.interactions)


def test_the_correction_adds_log_counts_to_the_item_bias_and_nothing_else() -> None:
    plain, corrected = fit(0.0), fit(1.0)
    counts = np.bincount(TOY.interactions.matrix.indices, minlength=TOY.interactions.n_items)
    shift = corrected.item_factors_[:, -1] - plain.item_factors_[:, -1]
    np.testing.assert_allclose(shift, np.log(np.maximum(counts, 1)), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(corrected.item_factors_[:, :-1], plain.item_factors_[:, :-1])
    np.testing.assert_array_equal(corrected.user_factors_, plain.user_factors_)


def test_the_corrected_model_recommends_more_popular_items() -> None:
    users = np.arange(TOY.interactions.n_users)
    seen = TOY.interactions.seen()
    counts = np.bincount(TOY.interactions.matrix.indices, minlength=TOY.interactions.n_items)

    def mean_count(model: BPRRecommender) -> float:
        recs, _ = model.recommend(users, 2, exclude=seen)
        return float(counts[recs[recs >= 0]].mean())

    assert mean_count(fit(1.0)) > mean_count(fit(0.0))


def test_sampling_log_odds_are_log_user_counts_with_unseen_items_at_zero() -> None:
    m = sp.csr_matrix(np.array([[1, 0, 5, 0], [1, 0, 0, 0], [2, 0, 1, 0]], dtype=np.float32))
    np.testing.assert_allclose(sampling_log_odds(m), [np.log(3), 0.0, np.log(2), 0.0])
    params = BPRRecommender().get_params()
    assert params["popularity_correction"] == 1.0 and params["verify_negative_samples"] is True
