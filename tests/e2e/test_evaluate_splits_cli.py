"""A data scientist chooses a split, exports it for another library, evaluates on it again,
and repeats over seeds, all from the `tastemaker evaluate` command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.e2e.conftest import Tastemaker
from tests.e2e.test_evaluate_cli import write_movielens

MODELS = ["--models", "popularity,ease", "--bootstrap", "50"]


def metrics(report: Path) -> dict[str, object]:
    saved = json.loads(report.with_suffix(".json").read_text())
    return {m["name"]: m["metrics"] for m in saved["models"]}


def test_export_a_split_and_evaluate_on_it_again(tm: Tastemaker, tmp_path: Path) -> None:
    write_movielens(tmp_path / "ml")
    source = ["--dataset", "movielens", "--data", "ml"]
    first = tm("evaluate", *source, *MODELS, "--split", "random", "--valid-fraction", "0.1",
               "--export-split", "split", "--report", "a.html", cwd=tmp_path)  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert "evaluated users: 40 of 40 (100.0%)" in first.stdout
    assert "WARNING" in first.stdout and "fewer than 200" in first.stdout
    for name in ("train.parquet", "valid.parquet", "test.parquet", "split.train.inter"):
        assert (tmp_path / "split" / name).is_file()

    again = tm("evaluate", "--split-from", "split", *MODELS, "--report", "b.html", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert metrics(tmp_path / "a.html") == metrics(tmp_path / "b.html")


def test_default_split_is_per_user_temporal_and_choices_are_listed(
    tm: Tastemaker, tmp_path: Path
) -> None:
    write_movielens(tmp_path / "ml")
    source = ["--dataset", "movielens", "--data", "ml"]
    done = tm("evaluate", *source, *MODELS, "--report", "r.html", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["split"].startswith("temporal-user") and saved["evaluated_share"] == 1.0
    assert saved["warnings"]  # 40 users are too few, and the JSON says so

    wrong = tm("evaluate", *source, "--split", "temporal_users", cwd=tmp_path)
    assert wrong.returncode == 2
    assert "temporal-user" in wrong.stderr and "leave-last" in wrong.stderr
    helped = tm("evaluate", "--help", cwd=tmp_path)
    assert "<temporal-user|random|leave-last|temporal>" in helped.stdout


def test_min_train_says_how_many_users_it_dropped(tm: Tastemaker, tmp_path: Path) -> None:
    write_movielens(tmp_path / "ml")  # 10 ratings per user: 8 for training
    args = ["--dataset", "movielens", "--data", "ml", *MODELS, "--min-train", "9"]
    done = tm("evaluate", *args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "evaluated users: 0 of 40" in done.stdout and "40 with a test part not" in done.stdout


def test_seeds_report_each_seed_and_the_mean(tm: Tastemaker, tmp_path: Path) -> None:
    write_movielens(tmp_path / "ml")
    assert tm("init", "ws", cwd=tmp_path).returncode == 0
    imported = tm("dataset", "import", "movielens", "ml", "-w", "ws", cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    tuned = tm("tune", "-w", "ws", "--model", "ease", "--grid", '{"l2": [1, 10, 100]}',
               cwd=tmp_path)  # fmt: skip
    assert tuned.returncode == 0, tuned.stderr
    done = tm("evaluate", "-w", "ws", *MODELS, "--split", "random", "--seeds", "2",
              "--report", "s.html", "--export-split", "splits", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "seed 0" in done.stdout and "seed 1" in done.stdout and "mean" in done.stdout
    assert "re-tuned on its training part: ease" in done.stdout
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["seeds"] == [0, 1] and summary["retuned"] == {"0": ["ease"], "1": ["ease"]}
    assert summary["params"]["0"]["ease"]["l2"] in (1, 10, 100)
    assert (tmp_path / "s-seed1.html").is_file()
    seeds = [
        json.loads((tmp_path / "splits" / f"seed-{s}" / "split.json").read_text()) for s in (0, 1)
    ]
    assert [m["seed"] for m in seeds] == [0, 1]


@pytest.mark.data
def test_default_split_evaluates_nine_in_ten_ml100k_users(
    tm: Tastemaker, tmp_path: Path, shared_data: Path
) -> None:
    folder = shared_data / "ml-100k"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    done = tm("evaluate", "--dataset", "ml-100k", "--data", str(folder), "--models",
              "popularity", "--bootstrap", "50", "--report", "r.html", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["evaluated_share"] >= 0.9, saved["split"]
