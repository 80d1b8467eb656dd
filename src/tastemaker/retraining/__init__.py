"""Guarded retraining: a candidate replaces the live version only if it is not worse."""

from tastemaker.retraining.guard import GuardResult, HoldoutPeriod, compare, holdout_period
from tastemaker.retraining.propensity_step import (
    PropensityOutcome,
    compare_propensity,
    retrain_propensity,
)
from tastemaker.retraining.run import RetrainOutcome, retrain
from tastemaker.retraining.triggers import Due, RetrainTrigger, last_retrain_at, retrain_if_due

__all__ = [
    "Due",
    "GuardResult",
    "HoldoutPeriod",
    "PropensityOutcome",
    "RetrainOutcome",
    "RetrainTrigger",
    "compare",
    "compare_propensity",
    "holdout_period",
    "last_retrain_at",
    "retrain",
    "retrain_if_due",
    "retrain_propensity",
]
