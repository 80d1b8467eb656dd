"""`tastemaker tune` on a MovieLens folder: a best value at a grid end is stepped past."""

from __future__ import annotations

import json
from pathlib import Path

from tests.unit.bench.test_movielens_accuracy import write_1m
from typer.testing import CliRunner

from tastemaker.cli.app import app

runner = CliRunner()


def test_tune_extends_a_grid_whose_best_value_is_an_end(tmp_path: Path) -> None:
    write_1m(tmp_path)
    out = tmp_path / "tune.json"
    args = ["tune", "--dataset", "movielens", "--data", str(tmp_path), "--model", "ease"]
    # the best of two values is always an end of the grid: tune must step past it
    result = runner.invoke(app, [*args, "--grid", '{"l2": [1.0, 10.0]}', "--out", str(out)])
    assert result.exit_code == 0, result.output
    record = json.loads(out.read_text())
    searched = record["grid"]["l2"]
    assert searched[:2] == [1.0, 10.0] and searched[2] in (0.1, 100.0)
    assert record["extensions"][0].startswith("l2: best ")
    assert record["best_value"] == max(t["value"] for t in record["trials"])
    assert "EXTENDED" in result.output


def test_tune_needs_a_folder_for_movielens() -> None:
    result = runner.invoke(app, ["tune", "--dataset", "movielens", "--model", "ease"])
    assert result.exit_code != 0 and "--data DIR" in result.output
