"""The simulated users' choice on one shown listing, from the generator's ground truth.

A user shown one item (the featured listing, always examined) clicks it with the logit
choice the generator uses for a slate of one: ``P(click) = sigmoid(u - no_click_logit)``,
where ``u`` is the hidden utility of :meth:`Marketplace.utility`. A click turns into a
purchase with ``sigmoid(u - purchase_logit)``, so

    P(purchase) = P(click) * sigmoid(u - purchase_logit).

One uniform draw ``U`` per visit decides both: click when ``U < P(click)``, purchase when
``U < P(purchase)`` (a purchase implies the click). Using the same ``U`` for every arm's
listing is what makes the true effect a paired, common-random-numbers quantity: two arms
that show the same item get the same outcome.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tastemaker.datasets.marketplace import Marketplace

Floats = npt.NDArray[np.float64]


def _sigmoid(x: Floats) -> Floats:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


@dataclass(frozen=True)
class Outcome:
    """Per visit: the true probabilities and, for the drawn uniforms, what happened."""

    p_click: Floats
    p_purchase: Floats
    click: npt.NDArray[np.bool_]
    purchase: npt.NDArray[np.bool_]


@dataclass(frozen=True)
class ChoiceModel:
    """Click and purchase of a shown item as the generator's users would decide them.

    Args:
        market: the generated marketplace (its hidden state answers utilities).
        purchase_logit: utility at which half of the clicks become purchases.
    """

    market: Marketplace
    purchase_logit: float = 2.0

    def probabilities(self, users: list[str], items: list[str], day: int) -> tuple[Floats, Floats]:
        """``P(click)`` and ``P(purchase)`` of each (user, shown item) pair on ``day``.

        Raises:
            ValidationFailedError: an id is not part of the marketplace.
        """
        util = self.market.utility(users, items, day)
        p_click = _sigmoid(util - self.market.config.no_click_logit)
        return p_click, p_click * _sigmoid(util - self.purchase_logit)

    def outcome(self, users: list[str], items: list[str], day: int, draws: Floats) -> Outcome:
        """The visits' outcomes for uniforms ``draws`` (one per visit, shared across arms)."""
        p_click, p_purchase = self.probabilities(users, items, day)
        return Outcome(p_click, p_purchase, draws < p_click, draws < p_purchase)
