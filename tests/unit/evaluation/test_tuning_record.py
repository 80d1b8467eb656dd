"""The workspace tuning record: one entry per model, explicit params win, edges are flagged."""

from __future__ import annotations

from pathlib import Path

from tastemaker.evaluation.tuning import (
    TuneResult,
    edge_warnings,
    params_with_sources,
    write_record,
)


def result(model: str, **best: object) -> TuneResult:
    return TuneResult(model, "ndcg", 10, "inner random", dict(best), 0.1)


def test_edge_warning_only_when_best_sits_at_an_end_of_the_grid() -> None:
    grid = {"l2": [10, 100, 1000], "binary": [True, False]}
    assert edge_warnings(result("ease", l2=100, binary=True), grid) == []
    (warning,) = edge_warnings(result("ease", l2=1000, binary=True), grid)
    assert "l2=1000 is the highest value" in warning


def test_record_keeps_every_model_and_explicit_params_override(tmp_path: Path) -> None:
    path = tmp_path / "tuning.json"
    write_record(path, result("ease", l2=100), {"l2": [10, 100, 1000]}, {"users": 3})
    write_record(path, result("als", factors=64), {"factors": [32, 64, 128]}, {"users": 3})
    params, source = params_with_sources(path, "ease", {})
    assert params == {"l2": 100} and source.startswith("tuning record")
    params, source = params_with_sources(path, "als", {"iterations": 5})
    assert params == {"factors": 64, "iterations": 5} and source.startswith("--params over")
    params, source = params_with_sources(path, "bpr", {})
    assert params == {} and "no tuning record for bpr" in source
    assert params_with_sources(None, "ease", {})[0] == {}
