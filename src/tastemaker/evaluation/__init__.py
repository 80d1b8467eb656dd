"""Offline evaluation: splits (and split files), metrics with bootstrap intervals, runner,
report, tuning and evaluation over seeds."""

from tastemaker.evaluation.metrics import Estimate, accuracy_at_k, bootstrap_ci
from tastemaker.evaluation.result import EvaluationResult, ModelEvaluation
from tastemaker.evaluation.runner import evaluate_models, score_model
from tastemaker.evaluation.seeds import SeedsResult, evaluate_seeds
from tastemaker.evaluation.split_files import export_split, read_split
from tastemaker.evaluation.splits import (
    Split,
    SplitKind,
    SplitSpec,
    assert_no_leakage,
    leave_last_n_out,
    make_split,
    random_split,
    temporal_split,
    temporal_user_split,
)
from tastemaker.evaluation.table import render_table
from tastemaker.evaluation.tuning import TuneResult, tune
from tastemaker.evaluation.workspace_eval import evaluate_workspace

__all__ = [
    "Estimate",
    "EvaluationResult",
    "ModelEvaluation",
    "SeedsResult",
    "Split",
    "SplitKind",
    "SplitSpec",
    "TuneResult",
    "accuracy_at_k",
    "assert_no_leakage",
    "bootstrap_ci",
    "evaluate_models",
    "evaluate_seeds",
    "evaluate_workspace",
    "export_split",
    "leave_last_n_out",
    "make_split",
    "random_split",
    "read_split",
    "render_table",
    "score_model",
    "temporal_split",
    "temporal_user_split",
    "tune",
]
