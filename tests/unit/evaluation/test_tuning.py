"""Grid search past the ends of its grid: a best value at an edge is extended, or flagged."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tests.unit.models.toydata import build_toy

from tastemaker.evaluation.tuning import beyond_edge, tune

TOY = build_toy().interactions


def peak_at(**optimum: float) -> Any:
    """A fake validation score, highest where each parameter is at its optimum (log1p scale)."""
    calls: list[dict[str, Any]] = []

    def trial(params: Mapping[str, Any]) -> float:
        calls.append(dict(params))
        return -sum((math.log1p(params[p]) - math.log1p(v)) ** 2 for p, v in optimum.items())

    trial.calls = calls  # type: ignore[attr-defined]
    return trial


def test_an_optimum_past_the_top_of_the_grid_is_found_by_extending_it() -> None:
    result = tune(TOY, "ease", {"l2": [100.0, 300.0, 1000.0]}, trial=peak_at(l2=3000.0))
    # 1000 is the highest value: one geometric step (x 1000/300) beyond it, 3333, wins;
    # the step after (11110) is worse, so 3333 sits inside the searched values
    assert result.best_params == {"l2": 3333.0}
    assert result.grid["l2"] == [100.0, 300.0, 1000.0, 3333.0, 11110.0]
    assert result.edge_warnings == []
    assert (
        result.extensions[0] == "l2: best 1000.0 was an end of [100.0, 300.0, 1000.0]; tried 3333.0"
    )


def test_an_optimum_out_of_reach_is_still_flagged_after_the_extensions() -> None:
    result = tune(TOY, "ease", {"l2": [1.0, 10.0]}, trial=peak_at(l2=1e9), extend=3)
    assert result.grid["l2"] == [1.0, 10.0, 100.0, 1000.0, 10000.0]
    (warning,) = result.edge_warnings
    assert "best l2=10000.0 is the highest value" in warning
    assert "after 3 round(s) of extension" in warning


def test_lower_integer_ends_extend_downwards_and_other_axes_stay_at_their_best() -> None:
    trial = peak_at(neighbors=6, shrinkage=10.0)
    grid = {"neighbors": [20, 50, 100], "shrinkage": [0.0, 10.0, 50.0]}
    result = tune(TOY, "itemknn", grid, trial=trial)
    assert result.grid["neighbors"] == [20, 50, 100, 8, 3]  # 20 / 2.5 = 8, 8 / 2.5 -> 3
    assert result.grid["shrinkage"] == [0.0, 10.0, 50.0]  # its best (10) is inside
    assert result.best_params == {"neighbors": 8, "shrinkage": 10.0}  # 3 was worse
    assert all(isinstance(v, int) for v in result.grid["neighbors"])
    extra = trial.calls[9:]  # after the 3 x 3 grid: line search from the best point
    assert extra == [{"neighbors": 8, "shrinkage": 10.0}, {"neighbors": 3, "shrinkage": 10.0}]
    assert result.edge_warnings == []


def test_a_zero_floor_is_not_an_edge() -> None:
    result = tune(TOY, "itemknn", {"shrinkage": [0.0, 10.0, 50.0]}, trial=peak_at(shrinkage=1e-3))
    # 0 cannot be stepped past geometrically and negative shrinkage means nothing
    assert result.best_params == {"shrinkage": 0.0}
    assert len(result.trials) == 3 and result.extensions == [] and result.edge_warnings == []


def test_extend_zero_keeps_the_grid_as_given_and_warns() -> None:
    result = tune(TOY, "ease", {"l2": [1.0, 10.0]}, trial=peak_at(l2=50.0), extend=0)
    assert len(result.trials) == 2 and result.grid == {"l2": [1.0, 10.0]}
    assert "l2=10.0 is the highest value of the grid [1.0, 10.0];" in result.edge_warnings[0]


def test_beyond_edge_steps_geometrically_and_only_at_an_end() -> None:
    assert beyond_edge([400.0, 700.0, 1000.0], 1000.0) == 1429.0
    assert beyond_edge([50, 100, 200], 50) == 25
    assert beyond_edge([1, 2], 1) is None  # no positive integer below 1
    assert beyond_edge([0.0, 10.0], 10.0) == 20.0  # x2 when the ratio is undefined
    assert beyond_edge([0.0, 10.0], 0.0) is None
    assert beyond_edge([10, 20, 40], 20) is None
    assert beyond_edge([True, False], True) is None
    assert beyond_edge([None, 7.0, 30.0], None) is None


def test_the_default_scorer_fits_on_the_inner_split_of_training_only() -> None:
    result = tune(TOY, "ease", {"l2": [5.0, 50.0]}, k=3, extend=1)
    assert "carved from training only" in result.validation
    assert result.best_value == max(t["value"] for t in result.trials)
    assert len(result.trials) in (2, 3)  # one more if the best was an end (0.5 or 500)
