"""Offline evaluation: splits, metrics with bootstrap intervals, runner, report and tuning."""

from tastemaker.evaluation.metrics import Estimate, accuracy_at_k, bootstrap_ci
from tastemaker.evaluation.runner import (
    EvaluationResult,
    ModelEvaluation,
    evaluate_models,
    score_model,
)
from tastemaker.evaluation.splits import (
    Split,
    assert_no_leakage,
    leave_last_n_out,
    make_split,
    random_split,
    temporal_split,
)
from tastemaker.evaluation.table import render_table
from tastemaker.evaluation.tuning import TuneResult, tune
from tastemaker.evaluation.workspace_eval import evaluate_workspace

__all__ = [
    "Estimate",
    "EvaluationResult",
    "ModelEvaluation",
    "Split",
    "TuneResult",
    "accuracy_at_k",
    "assert_no_leakage",
    "bootstrap_ci",
    "evaluate_models",
    "evaluate_workspace",
    "leave_last_n_out",
    "make_split",
    "random_split",
    "render_table",
    "score_model",
    "temporal_split",
    "tune",
]
