"""The propensity step of a guarded retrain: the live purchase-propensity version against a
candidate trained on the same rolling window, judged on the same holdout.

When the workspace serves a propensity model, the candidate repeats the live version's
training choices (:func:`~tastemaker.propensity.training.config_of`) on the events of the
retrain's training window (the recommender's, whether its step trained or was SKIPPED),
through the propensity package's own training
(:func:`~tastemaker.propensity.training.train_propensity`, a new registered version). Both
versions then score the held-out examples (:mod:`tastemaker.propensity.holdout`: cutoffs in
the holdout, features from the history before each), and each user's mean loss
(``retraining.propensity_metric``, log loss or Brier score: lower is better) is compared
with the guard's paired test (:func:`~tastemaker.retraining.guard.judge`) against
``retraining.propensity_margin``; the candidate goes live on PROMOTE, independently of
the recommender's verdict. Whether it beats the base rate on its own out-of-time test
slice (what ``tastemaker propensity train --promote`` requires, with no live version to
compare with) is reported (``refusal`` and a note) but does not decide: that slice holds a
few days of cutoffs, and on it the check flipped between runs of the same data (Brier
0.008658 against the base rate's 0.008645), while the paired holdout comparison with the
live version, hundreds of users, did not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np
import polars as pl

from tastemaker.config import RetrainingConfig
from tastemaker.errors import TastemakerError
from tastemaker.propensity.holdout import holdout_examples, per_user_loss
from tastemaker.propensity.model import PropensityModel
from tastemaker.propensity.training import config_of, registry_of, train_propensity, windows_of
from tastemaker.retraining.guard import GuardResult, HoldoutPeriod, favoured_note, judge
from tastemaker.workspace import Workspace

StepVerdict = Literal["PROMOTE", "KEEP", "SKIPPED"]


@dataclass
class PropensityOutcome:
    """What the propensity step did.

    Attributes:
        verdict: ``PROMOTE``, ``KEEP`` or ``SKIPPED`` (no propensity model is live).
        reason: one sentence with the figures (or why it was skipped / failed).
        promoted: the candidate is live now.
        live, candidate: the version live before and the one trained now (None when none).
        model: the candidate's model (``propensity-lightgbm``, ...).
        train_events, train_examples: item events and labelled examples it was trained on.
        refusal: why it does not beat the base rate on its own out-of-time test slice
            (None: it does); reported, not deciding.
        guard: the paired comparison's figures (None when none was made).
        notes: caveats of the comparison.
    """

    verdict: StepVerdict
    reason: str
    promoted: bool = False
    live: str | None = None
    candidate: str | None = None
    model: str | None = None
    train_events: int = 0
    train_examples: int = 0
    refusal: str | None = None
    guard: GuardResult | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready outcome (the guard's figures nested under ``guard``)."""
        return {
            "verdict": self.verdict, "reason": self.reason, "promoted": self.promoted,
            "live": self.live, "candidate": self.candidate, "model": self.model,
            "train_events": self.train_events, "train_examples": self.train_examples,
            "refusal": self.refusal, "guard": None if self.guard is None else self.guard.to_dict(),
            "notes": self.notes,
        }  # fmt: skip


def compare_propensity(
    live: PropensityModel,
    candidate: PropensityModel,
    examples: pl.DataFrame,
    period: HoldoutPeriod,
    config: RetrainingConfig,
    names: tuple[str, str],
) -> GuardResult:
    """Decide whether the propensity ``candidate`` may replace ``live`` on the held-out
    ``examples`` (:func:`~tastemaker.propensity.holdout.holdout_examples` of ``period``).

    Each user's mean ``config.propensity_metric`` of both versions on the same examples,
    paired; PROMOTE when the upper end of the 95% interval of candidate minus live lies
    below ``config.propensity_margin``; KEEP with fewer than ``config.min_users`` users.
    """
    base: dict[str, Any] = dict(
        metric=config.propensity_metric, live=names[0], candidate=names[1],
        margin=config.propensity_margin, holdout_start=period.start.isoformat(),
        holdout_end=period.end.isoformat(),
    )  # fmt: skip
    n = examples["user_id"].n_unique() if examples.height else 0
    if n < config.min_users:
        why = (f"only {n} holdout user(s) with a recent interest to score since "
               f"{period.start:%Y-%m-%d %H:%M} (retraining.min_users = {config.min_users}): "
               "too few to compare, the live propensity version stays")  # fmt: skip
        return GuardResult("KEEP", why, users=n, lower_is_better=True, **base)
    users, old = per_user_loss(live, examples, config.propensity_metric)
    again, new = per_user_loss(candidate, examples, config.propensity_metric)
    assert np.array_equal(users, again)  # the same examples: the same users, same order
    return judge(new, old, config.propensity_margin, config.bootstrap, base, lower_is_better=True)


def retrain_propensity(
    ws: Workspace, period: HoldoutPeriod, start: datetime, reason: str, *, dry_run: bool
) -> PropensityOutcome:
    """Train a propensity candidate on ``[start, period.start)``, judge it against the live
    version on ``period``, and promote it on PROMOTE (unless ``dry_run``).

    A workspace without a live propensity version is SKIPPED. A candidate that cannot be
    trained or judged (too little data in the window, one class) is a KEEP saying why.
    """
    registry = registry_of(ws)
    live = registry.state().active
    if live is None:
        return PropensityOutcome("SKIPPED", "no propensity model is live: nothing to retrain")
    cfg = ws.settings.retraining
    made: dict[str, object] = {
        "retraining": {"trigger": reason, "window_start": start.isoformat(),
                       "window_end": period.start.isoformat(), "live": live},
    }  # fmt: skip
    try:
        manifest = registry.check_schema(live)
        live_model = PropensityModel.load(registry.path(live))
        chosen = config_of(manifest)
        result = train_propensity(ws, chosen, window=(start, period.start), extra=made)
        assert result.version is not None
        candidate = PropensityModel.load(registry.path(result.version))
        examples = holdout_examples(ws, windows_of(manifest), chosen.labels, period.start,
                                    period.end)  # fmt: skip
        guard = compare_propensity(
            live_model, candidate, examples, period, cfg, (live, result.version)
        )
    except TastemakerError as exc:
        why = f"the propensity candidate could not be trained or judged: {exc.message}"
        return PropensityOutcome("KEEP", f"{why}; the live version stays", live=live)
    refusal = result.promotion_refusal()
    notes = favoured_note("propensity version", live, manifest, period)
    if refusal is not None:  # a few days of test cutoffs: weaker evidence than the holdout's
        notes.append(f"on its own out-of-time test slice, {refusal}")
    verdict, why = guard.verdict, guard.reason
    promote = verdict == "PROMOTE" and not dry_run
    if promote:
        registry.promote(result.version)
    return PropensityOutcome(
        verdict=verdict, reason=why, promoted=promote, live=live, candidate=result.version,
        model=f"propensity-{result.model}", train_events=result.events,
        train_examples=result.examples, refusal=refusal, guard=guard,
        notes=notes,
    )  # fmt: skip
