"""Every choice option lists its choices in `--help` and refuses others, as a user sees it.

The model choices of `train --model` are the model catalog's names, not a copy of them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.e2e.conftest import Tastemaker

from tastemaker.models import MODELS

# (command, option, choices in help order, a value that is not one of them)
CHOICES = [
    (("train",), "--model", tuple(MODELS), "gpt"),
    (("generate", "marketplace"), "--format", ("parquet", "csv", "jsonl"), "xlsx"),
    (("propensity", "train"), "--model", ("auto", "lightgbm", "logistic"), "xgboost"),
    (("propensity", "train"), "--calibration", ("isotonic", "sigmoid", "none"), "beta"),
    (("export", "events"), "--format", ("parquet",), "csv"),
    (("tune",), "--model", tuple(MODELS), "gpt"),
    (("tune",), "--split", ("temporal-user", "random", "leave-last", "temporal"), "daily"),
    (("tune",), "--metric", ("precision", "recall", "ndcg", "map", "mrr", "hit_rate"), "auc"),
    (("serve",), "--log-level", ("critical", "error", "warning", "info", "debug", "trace"), "x"),
]


@pytest.mark.parametrize(("command", "option", "choices", "bad"), CHOICES)
def test_help_lists_the_choices_and_a_bad_value_exits_2_naming_them(
    tm: Tastemaker,
    tmp_path: Path,
    command: tuple[str, ...],
    option: str,
    choices: tuple[str, ...],
    bad: str,
) -> None:
    shown = tm(*command, "--help", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    line = next(row for row in shown.stdout.splitlines() if f" {option} " in row)
    assert "<" + "|".join(choices) + ">" in line

    refused = tm(*command, option, bad, cwd=tmp_path)
    assert refused.returncode == 2
    message = " ".join(refused.stderr.replace("│", " ").split())
    assert f"Invalid value for '{option}'" in message
    assert f"'{bad}' is not one of " + ", ".join(f"'{c}'" for c in choices) in message
    assert not any(tmp_path.iterdir())  # refused before anything was opened or written


def test_the_catalog_offers_every_model_train_can_make() -> None:
    from tastemaker.cli.train import ModelName

    assert [m.value for m in ModelName] == list(MODELS)
    assert {"popularity", "als", "ease", "hybrid"} <= set(MODELS)
