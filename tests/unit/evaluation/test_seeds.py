"""Evaluation over seeds: nested tuning sees a seed's training part only."""

from __future__ import annotations

import numpy as np
from tests.unit.models.toydata import build_toy

from tastemaker.evaluation.seeds import evaluate_seeds, retune_on_training
from tastemaker.evaluation.splits import SplitKind, SplitSpec, make_split
from tastemaker.evaluation.tuning import tune
from tastemaker.models.interactions import Interactions

TOY = build_toy()
RECORD = {"ease": {"grid": {"l2": [0.1, 5.0, 500.0]}, "metric": "ndcg", "k": 3,
                   "validation": "inner random: train=..."}}  # fmt: skip


def test_a_seeds_test_pairs_cannot_choose_its_parameters() -> None:
    split = make_split(TOY.interactions, "random", seed=4, test_fraction=0.25)
    chosen = retune_on_training(split, RECORD, seed=4)
    # the same training part with a wholly different test part chooses the same point
    rng = np.random.default_rng(0)
    other = Interactions.from_arrays(
        rng.integers(0, 40, 200), rng.integers(0, 21, 200), n_users=40, n_items=21
    )
    split.test = split.test.with_log(other.log)
    assert retune_on_training(split, RECORD, seed=4) == chosen
    # and it is exactly what tuning on the training part alone chooses
    alone = tune(split.train, "ease", RECORD["ease"]["grid"], k=3, seed=4)  # type: ignore[arg-type]
    assert chosen == {"ease": alone.best_params}


def test_every_seed_is_split_tuned_and_evaluated_on_its_own() -> None:
    spec = SplitSpec(SplitKind.random, test_fraction=0.25)
    calls: list[tuple[str, float, int]] = []
    result = evaluate_seeds(
        TOY.interactions, ["popularity", "ease"], spec, [3], [0, 1, 2], record=RECORD,
        params={"popularity": {}}, n_bootstrap=20, items=TOY.items,
        progress=lambda s, d, t: calls.append((s, d, t)),
    )  # fmt: skip
    assert [r.seed for r in result.runs] == [0, 1, 2]
    assert all(r.retuned == ["ease"] and "l2" in r.params["ease"] for r in result.runs)
    splits = {r.result.split for r in result.runs}
    assert len(splits) == 3  # a new split per seed
    summary = result.summary("ndcg", 3)
    for row in summary.values():
        assert len(row["per_seed"]) == 3
        assert row["low"] <= row["mean"] == np.mean(row["per_seed"]) <= row["high"]
    assert any("tuning ease on seed 1" in c[0] for c in calls)
    assert calls[-1][1:] == (6, 6)
    assert set(result.to_dict()["params"]) == {"0", "1", "2"}
