"""The runner, table, report and tuning on the toy data set."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import polars as pl
from rich.console import Console
from tests.unit.models.toydata import N_USERS, build_toy

from tastemaker.evaluation.runner import evaluate_models, relevant_matrix
from tastemaker.evaluation.splits import random_split
from tastemaker.evaluation.table import render_table
from tastemaker.evaluation.tuning import tune
from tastemaker.models.interactions import Interactions

TOY = build_toy()
SEGMENTS = pl.DataFrame(
    {"user_id": [str(u) for u in range(N_USERS)], "half": ["a"] * 20 + ["b"] * 20}
)


def run(**kwargs: object) -> object:
    return evaluate_models(
        TOY.interactions,
        [("popularity", {}), ("ease", {"l2": 5.0})],
        "random",
        [1, 3],
        items=TOY.items,
        user_segments=SEGMENTS,
        segment_column="half",
        n_bootstrap=50,
        **kwargs,  # type: ignore[arg-type]
    )


def test_runner_scores_every_model_at_every_k() -> None:
    result = run()
    assert [m.name for m in result.models] == ["popularity", "ease"]  # type: ignore[attr-defined]
    assert result.ks == [1, 3]  # type: ignore[attr-defined]
    ease = result.models[1]  # type: ignore[attr-defined]
    for metric in ("ndcg", "precision", "recall", "map", "mrr", "hit_rate", "coverage", "gini"):
        for k in (1, 3):
            e = ease.metrics[metric][k]
            assert e.low <= e.mean <= e.high
    # the cluster-aware model wins on the toy data, popularity covers fewer items
    assert ease.value("ndcg", 3) > result.models[0].value("ndcg", 3)  # type: ignore[attr-defined]
    assert set(ease.segments) == {"a", "b"}


def test_relevant_items_exclude_training_pairs() -> None:
    inter = Interactions.from_arrays(np.array([0, 0, 0, 0]), np.array([1, 2, 1, 3]), n_items=4)
    split = random_split(inter, (0.5, 0.5), seed=0)
    rel = relevant_matrix(split)
    assert not rel.multiply(split.train.binary()).nnz


def test_table_and_report(tmp_path: Path) -> None:
    from tastemaker.evaluation.report import write_report

    result = run()
    console = Console(record=True, width=200)
    console.print(render_table(result))  # type: ignore[arg-type]
    text = console.export_text()
    assert "ease" in text and "ndcg" in text
    path = write_report(result, tmp_path / "r.html")  # type: ignore[arg-type]
    html = path.read_text()
    assert html.count("data:image/png;base64,") == 4  # bars, vs K, popularity bias, segments
    assert not re.search(r"(src|href)=\"https?://", html), "the report must open offline"
    json.dumps(result.to_dict())  # type: ignore[attr-defined]


def test_tune_only_sees_the_training_part(tmp_path: Path) -> None:
    outer = random_split(TOY.interactions, (0.75, 0.25), seed=0)
    result = tune(outer.train, "ease", {"l2": [1.0, 5.0, 50.0]}, k=3, extend=0)
    assert len(result.trials) == 3
    assert result.best_value == max(t["value"] for t in result.trials)
    assert result.best_params["l2"] in (1.0, 5.0, 50.0)
    assert "carved from training only" in result.validation
    saved = json.loads(result.save(tmp_path / "t.json").read_text())
    assert saved["best_params"] == result.best_params


def test_segment_gap_flags_disjoint_intervals() -> None:
    from tastemaker.evaluation.metrics import Estimate
    from tastemaker.evaluation.report import segment_gap
    from tastemaker.evaluation.runner import ModelEvaluation

    def model(a: Estimate, b: Estimate) -> ModelEvaluation:
        segs = {"a": {"ndcg": {10: a}}, "b": {"ndcg": {10: b}}}
        return ModelEvaluation("m", {}, 0.0, 0.0, {}, segs)

    gap, flagged = segment_gap(model(Estimate(0.5, 0.45, 0.55), Estimate(0.3, 0.25, 0.35)), 10)
    assert gap == 0.2 and flagged
    gap, flagged = segment_gap(model(Estimate(0.5, 0.3, 0.7), Estimate(0.4, 0.2, 0.6)), 10)
    assert abs(gap - 0.1) < 1e-12 and not flagged


def test_runner_refuses_a_leaky_temporal_split() -> None:
    import pytest

    from tastemaker.errors import DataLeakageError
    from tastemaker.evaluation.splits import temporal_split

    split = temporal_split(TOY.interactions, test_fraction=0.3)
    split.train = split.train.with_log(pl.concat([split.train.log, split.test.log.head(1)]))
    with pytest.raises(DataLeakageError):
        evaluate_models(TOY.interactions, ["popularity"], split, [3], n_bootstrap=5)


def test_progress_moves_within_each_model_on_many_users() -> None:
    rng = np.random.default_rng(0)
    n_users = 3000  # several scoring batches
    users = np.repeat(np.arange(n_users), 4)
    inter = Interactions.from_arrays(users, rng.integers(0, 50, len(users)), n_items=50)
    calls: list[tuple[str, float, int]] = []
    evaluate_models(
        inter,
        ["popularity", ("itemknn", {"neighbors": 5})],
        "random",
        [5, 10],
        n_bootstrap=20,
        progress=lambda stage, done, total: calls.append((stage, done, total)),
    )
    for n in range(2):
        within = [c for c in calls if n <= c[1] < n + 1]
        assert len(within) >= 4, f"model {n} advanced only {len(within)} times"
    done = [c[1] for c in calls]
    assert done == sorted(done) and calls[-1] == ("done", 2, 2)


def test_validation_items_are_neither_ranked_nor_relevant() -> None:
    from tastemaker.evaluation.runner import _recommend_batches
    from tastemaker.evaluation.splits import make_split
    from tastemaker.models.catalog import make_model

    split = make_split(TOY.interactions, "random", seed=0, test_fraction=0.3, valid_fraction=0.3)
    assert split.validation is not None
    valid = split.validation.binary()
    assert not relevant_matrix(split).multiply(valid).nnz
    model = make_model("ease", l2=5.0).fit(split.train)
    users = np.arange(split.train.n_users)
    recs = _recommend_batches(model, split, users, 5, None)
    ranked = {(int(u), int(i)) for u, row in zip(users, recs, strict=True) for i in row if i >= 0}
    rows, cols = valid.nonzero()
    assert ranked.isdisjoint(zip(rows.tolist(), cols.tolist(), strict=True))


def test_few_users_draw_a_warning_in_the_result_and_its_json() -> None:
    from tastemaker.evaluation.result import MIN_USERS, precision_warnings

    result = run()
    assert result.n_users < MIN_USERS  # type: ignore[attr-defined]
    saved = result.to_dict()  # type: ignore[attr-defined]
    assert any("users evaluated" in w for w in saved["warnings"])
    assert any("ndcg@1 intervals are up to" in w for w in saved["warnings"])
    assert saved["users_with_data"] == N_USERS and saved["evaluated_share"] > 0.9
    result.n_users = 5000  # type: ignore[attr-defined]
    for m in result.models:  # type: ignore[attr-defined]
        e = m.metrics["ndcg"][1]
        m.metrics["ndcg"][1] = type(e)(e.mean, e.mean - 0.01, e.mean + 0.01)
    assert precision_warnings(result) == []  # type: ignore[arg-type]


def test_table_shows_four_decimals() -> None:
    console = Console(record=True, width=200)
    console.print(render_table(run()))  # type: ignore[arg-type]
    assert re.search(r"\b0\.\d{4}±0\.\d{4}\b", console.export_text())
