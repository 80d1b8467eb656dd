"""The simulated users' choice: draws follow the ground-truth probabilities, and the same
draws give the same outcome for the same item (common random numbers)."""

from __future__ import annotations

import numpy as np
import pytest

from tastemaker.datasets.marketplace import generate_marketplace
from tastemaker.errors import ValidationFailedError
from tastemaker.simulation.ab import experiment_for
from tastemaker.simulation.users import ChoiceModel

MARKET = generate_marketplace(users=20, items=30, days=2, seed=5)


def test_probabilities_are_the_logit_of_the_generators_utility() -> None:
    model = ChoiceModel(MARKET, purchase_logit=2.0)
    users, items = ["u000001", "u000002"], ["i000003", "i000004"]
    p_click, p_buy = model.probabilities(users, items, day=1)
    util = MARKET.utility(users, items, 1)
    assert p_click == pytest.approx(1 / (1 + np.exp(-util)))
    assert p_buy == pytest.approx(p_click / (1 + np.exp(-(util - 2.0))))


def test_drawn_clicks_and_purchases_match_the_probabilities() -> None:
    model = ChoiceModel(MARKET)
    n = 40_000
    users, items = ["u000007"] * n, ["i000011"] * n
    out = model.outcome(users, items, 0, np.random.default_rng(1).random(n))
    p_click, p_buy = out.p_click[0], out.p_purchase[0]
    for rate, p in ((out.click.mean(), p_click), (out.purchase.mean(), p_buy)):
        assert abs(rate - p) < 4 * np.sqrt(p * (1 - p) / n)
    assert not (out.purchase & ~out.click).any()  # a purchase is always a click too


def test_the_same_draws_give_the_same_outcome_and_more_utility_more_purchases() -> None:
    model = ChoiceModel(MARKET)
    users = MARKET.users["user_id"].to_list()
    draws = np.random.default_rng(2).random(len(users))
    a = model.outcome(users, ["i000001"] * len(users), 0, draws)
    b = model.outcome(users, ["i000001"] * len(users), 0, draws)
    assert (a.purchase == b.purchase).all() and (a.click == b.click).all()
    c = model.outcome(users, ["i000002"] * len(users), 0, draws)
    better = c.p_purchase >= a.p_purchase  # one uniform per visit: outcomes are monotone
    assert (c.purchase[better] >= a.purchase[better]).all()


def test_scenarios_are_experiments_and_unknown_ones_are_refused() -> None:
    featured = experiment_for("featured")
    policies = [v.serving.featured_policy for v in featured.variants]
    assert policies == ["random", "personalized"]
    aa = experiment_for("aa")
    assert aa.variants[0].serving == aa.variants[1].serving
    with pytest.raises(ValidationFailedError, match="scenario 'nope' is unknown"):
        experiment_for("nope")
