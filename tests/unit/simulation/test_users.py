"""The simulated users' choice: exact click probabilities agree with the generator's own
slate model, draws follow them, and the same draws give the same outcome for the same list
(common random numbers)."""

from __future__ import annotations

import numpy as np
import pytest

from tastemaker.datasets.marketplace import generate_marketplace
from tastemaker.datasets.marketplace_sessions import click_choice
from tastemaker.errors import ValidationFailedError
from tastemaker.simulation.ab import experiment_for
from tastemaker.simulation.users import ChoiceModel

MARKET = generate_marketplace(users=20, items=30, days=2, seed=5)
SLATE = ["i000003", "i000001", "i000017", "i000008"]


def test_one_item_is_the_logit_of_the_generators_utility() -> None:
    model = ChoiceModel(MARKET, purchase_logit=2.0)
    users, items = ["u000001", "u000002"], ["i000003", "i000004"]
    p_click, q = model.probabilities(users, [[i] for i in items], day=1)
    util = MARKET.utility(users, items, 1)
    assert p_click[:, 0] == pytest.approx(1 / (1 + np.exp(-util)))
    assert q[:, 0] == pytest.approx(1 / (1 + np.exp(-(util - 2.0))))


def test_slate_click_probabilities_match_the_generators_click_model() -> None:
    model = ChoiceModel(MARKET)
    p_click, _ = model.probabilities(["u000004"], [SLATE], day=0)
    n = 200_000
    util = np.repeat(MARKET.utility(["u000004"] * 4, SLATE, 0)[None, :], n, axis=0)
    chosen = click_choice(np.random.default_rng(3), util, np.ones_like(util, bool), MARKET.config)
    observed = np.bincount(chosen, minlength=5)[:4] / n
    assert observed == pytest.approx(p_click[0], abs=4 * np.sqrt(0.25 / n))


def test_drawn_clicks_and_purchases_match_the_probabilities() -> None:
    model = ChoiceModel(MARKET)
    n = 40_000
    out = model.outcome(["u000007"] * n, [SLATE] * n, 0, np.random.default_rng(1).random((n, 2)))
    for position in range(len(SLATE)):
        p = out.p_click[0, position]
        assert abs((out.clicked == position).mean() - p) < 4 * np.sqrt(p * (1 - p) / n)
    p = out.p_purchase[0]
    assert abs(out.purchase.mean() - p) < 4 * np.sqrt(p * (1 - p) / n)
    assert not (out.purchase & (out.clicked < 0)).any()  # a purchase is always a click too


def test_the_same_draws_give_the_same_outcome() -> None:
    model = ChoiceModel(MARKET)
    users = MARKET.users["user_id"].to_list()
    draws = np.random.default_rng(2).random((len(users), 2))
    a = model.outcome(users, [SLATE] * len(users), 0, draws)
    b = model.outcome(users, [SLATE] * len(users), 0, draws)
    assert (a.purchase == b.purchase).all() and (a.clicked == b.clicked).all()
    assert model.purchase_probability(users, [SLATE] * len(users), 0) == pytest.approx(a.p_purchase)


def test_scenarios_are_experiments_and_unknown_ones_are_refused() -> None:
    featured = experiment_for("featured")
    assert [v.serving.featured_policy for v in featured.variants] == ["random", "personalized"]
    aa = experiment_for("aa")
    assert aa.variants[0].serving == aa.variants[1].serving
    model = experiment_for("model", ("v0001", "v0002"))
    assert [v.serving.model_version for v in model.variants] == ["v0001", "v0002"]
    with pytest.raises(ValidationFailedError, match="needs two model versions"):
        experiment_for("model")
    with pytest.raises(ValidationFailedError, match="scenario 'nope' is unknown"):
        experiment_for("nope")
