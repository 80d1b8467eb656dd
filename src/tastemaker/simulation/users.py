"""The simulated users' choice on a shown list, from the generator's ground truth.

A user shown a list (the featured listing is a list of one) behaves like the generator's
users on a slate (:func:`~tastemaker.datasets.marketplace_sessions.click_choice`): position
``p`` (1-based) is examined with probability ``p ** -position_decay`` (the first always), and
among the examined items the user clicks one by a logit choice on the hidden utility ``u``
(:meth:`Marketplace.utility`) against leaving (utility ``no_click_logit``). Here the choice
is computed exactly, as the marginal ``P(click j)`` over every examined subset, so for one
item ``P(click) = sigmoid(u - no_click_logit)``. A click on ``j`` turns into a purchase with
``sigmoid(u_j - purchase_logit)``, so a visit's ``P(purchase) = sum_j P(click j) q_j``.

Two uniforms per visit decide the outcome: the first picks the clicked position (or none)
by the cumulative click probabilities, the second the purchase (``< q_j``). Using the same
uniforms for every arm's list is what makes the true effect a paired, common-random-numbers
quantity: arms that show the same list get the same outcome.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tastemaker.datasets.marketplace import Marketplace

Floats = npt.NDArray[np.float64]
MAX_SLATE = 10  # exact marginals enumerate 2**k examined subsets


def _sigmoid(x: Floats) -> Floats:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


@dataclass(frozen=True)
class Outcome:
    """Per visit: true probabilities and, for the drawn uniforms, what happened.

    Attributes:
        p_click: (visits, positions) probability of clicking each position.
        p_purchase: (visits,) probability that the visit ends in a purchase.
        clicked: (visits,) clicked position, -1 for none.
        purchase: (visits,) whether the click became a purchase.
    """

    p_click: Floats
    p_purchase: Floats
    clicked: npt.NDArray[np.int64]
    purchase: npt.NDArray[np.bool_]


@dataclass(frozen=True)
class ChoiceModel:
    """Clicks and purchases on shown lists as the generator's users would decide them.

    Args:
        market: the generated marketplace (its hidden state answers utilities).
        purchase_logit: utility at which half of the clicks become purchases.
    """

    market: Marketplace
    purchase_logit: float = 2.0

    def probabilities(
        self, users: list[str], slates: list[list[str]], day: int
    ) -> tuple[Floats, Floats]:
        """Per visit, ``P(click)`` of each position and ``P(purchase | click)`` of each.

        Lists may be of different lengths (at most ``MAX_SLATE``); missing positions get 0.

        Raises:
            ValidationFailedError: an id is not part of the marketplace.
        """
        k = max((len(s) for s in slates), default=1)
        if k > MAX_SLATE:
            raise ValueError(f"lists of at most {MAX_SLATE} items, got {k}")
        valid = np.array([[j < len(s) for j in range(k)] for s in slates], dtype=bool)
        flat_items = [s[j] if j < len(s) else s[0] for s in slates for j in range(k)]
        flat_users = [u for u in users for _ in range(k)]
        util = self.market.utility(flat_users, flat_items, day).reshape(len(users), k)
        weight = np.where(valid, np.exp(util - self.market.config.no_click_logit), 0.0)
        subsets = ((np.arange(2**k)[:, None] >> np.arange(k)) & 1).astype(bool)  # (S, k)
        examine = np.arange(1, k + 1, dtype=float) ** -self.market.config.position_decay
        p_subset = np.prod(np.where(subsets, examine, 1.0 - examine), axis=1)  # (S,)
        denom = 1.0 + weight @ subsets.T.astype(float)  # (n, S)
        p_click = weight * ((p_subset / denom) @ subsets.astype(float))
        return p_click, np.where(valid, _sigmoid(util - self.purchase_logit), 0.0)

    def purchase_probability(self, users: list[str], slates: list[list[str]], day: int) -> Floats:
        """``P(purchase)`` of each visit shown its list."""
        p_click, q = self.probabilities(users, slates, day)
        return np.asarray((p_click * q).sum(axis=1), dtype=np.float64)

    def outcome(
        self, users: list[str], slates: list[list[str]], day: int, draws: Floats
    ) -> Outcome:
        """The visits' outcomes for uniforms ``draws`` (visits, 2), shared across arms."""
        p_click, q = self.probabilities(users, slates, day)
        edges = np.cumsum(p_click, axis=1)
        pos = (draws[:, :1] >= edges).sum(axis=1)  # k: no click
        clicked = np.where(pos < p_click.shape[1], pos, -1)
        q_clicked = np.take_along_axis(q, np.maximum(clicked, 0)[:, None], axis=1)[:, 0]
        purchase = (clicked >= 0) & (draws[:, 1] < q_clicked)
        return Outcome(p_click, (p_click * q).sum(axis=1), clicked.astype(np.int64), purchase)
