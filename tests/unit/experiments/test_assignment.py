"""Assignment: the documented hash (test vectors), weights, traffic, salts, stickiness."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from scipy import stats

from tastemaker.experiments.assignment import assign, boundaries, bucket, in_traffic, pick
from tastemaker.experiments.definition import Experiment

VECTORS = json.loads((Path(__file__).parent / "assignment_vectors.json").read_text())
USERS = [f"user-{i}" for i in range(20_000)]


def experiment(
    key: str = "exp", weights: tuple[float, ...] = (1, 1), **extra: object
) -> Experiment:
    names = ["control", *(f"v{i}" for i in range(1, len(weights)))]
    return Experiment.model_validate(
        {
            "key": key,
            "variants": [{"name": n, "weight": w} for n, w in zip(names, weights, strict=True)],
            "metrics": {"primary": "ctr"},
            **extra,
        }
    )


def test_buckets_match_the_published_vectors_and_the_rule_recomputed_here() -> None:
    for v in VECTORS["vectors"]:
        digest = hashlib.sha256(f"{v['salt']}:{v['unit']}".encode()).digest()
        assert digest[:8].hex() == v["first_8_bytes_hex"]
        assert int.from_bytes(digest[:8], "big") % 10_000 == v["bucket"]
        assert bucket(v["salt"], v["unit"]) == v["bucket"]
        assert bucket(f"{v['salt']}#traffic", v["unit"]) == v["traffic_bucket"]


def test_weights_split_users_within_sampling_error() -> None:
    exp = experiment(weights=(1, 2, 1))
    names = [pick(exp, u).name for u in USERS]
    counts = np.array([names.count(n) for n in ("control", "v1", "v2")])
    assert stats.chisquare(counts, np.array([0.25, 0.5, 0.25]) * len(USERS)).pvalue > 0.001
    assert boundaries([1, 2, 1]) == [2500, 7500, 10000]


def test_experiments_with_different_salts_assign_independently() -> None:
    a = [pick(experiment("a"), u).name for u in USERS]
    b = [pick(experiment("b"), u).name for u in USERS]
    table = np.zeros((2, 2))
    for x, y in zip(a, b, strict=True):
        table[x == "control", y == "control"] += 1
    assert stats.chi2_contingency(table).pvalue > 0.001
    same_salt = [pick(experiment("c", salt="a"), u).name for u in USERS]
    assert same_salt == a  # the salt, not the key, decides


def test_traffic_share_admits_its_share_and_only_adds_users_when_raised() -> None:
    inside_10 = {u for u in USERS if in_traffic("exp", u, 0.1)}
    inside_30 = {u for u in USERS if in_traffic("exp", u, 0.3)}
    assert abs(len(inside_10) / len(USERS) - 0.1) < 0.01
    assert abs(len(inside_30) / len(USERS) - 0.3) < 0.015
    assert inside_10 <= inside_30
    exp = experiment(targeting={"traffic": 0.1})
    assert all(assign(exp, u) is None for u in USERS[:500] if u not in inside_10)


def test_traffic_gate_is_independent_of_the_variant() -> None:
    exp = experiment()
    inside = [in_traffic(exp.salt, u, 0.5) for u in USERS]
    control = [pick(exp, u).name == "control" for u in USERS]
    table = np.zeros((2, 2))
    for i, c in zip(inside, control, strict=True):
        table[int(i), int(c)] += 1
    assert stats.chi2_contingency(table).pvalue > 0.001


def test_recorded_variant_wins_when_weights_change_mid_run() -> None:
    before = experiment(weights=(1, 1))
    after = experiment(weights=(9, 1))
    first = {u: pick(before, u).name for u in USERS[:2000]}
    moved = [u for u in first if pick(after, u).name != first[u]]
    assert moved  # the hash alone would move users
    assert all(assign(after, u, recorded=first[u]).name == first[u] for u in moved)  # type: ignore[union-attr]
    assert assign(after, USERS[0], recorded="gone") == pick(after, USERS[0])  # removed variant


def test_assignment_is_a_pure_function_of_salt_and_unit() -> None:
    exp = experiment()
    assert [pick(exp, u).name for u in USERS[:100]] == [pick(exp, u).name for u in USERS[:100]]
