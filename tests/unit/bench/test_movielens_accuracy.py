"""`bench accuracy --dataset movielens`: any release, labelled by what was read."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tastemaker.bench.movielens import movielens_benchmark
from tastemaker.cli.app import app
from tastemaker.errors import ValidationFailedError

N_USERS, N_ITEMS, PER_USER = 30, 24, 12


def ratings() -> list[tuple[int, int, int, int]]:
    """(user, movie, stars, time): two taste clusters, 12 ratings per user."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(1, N_USERS + 1):
        half = range(1, 13) if u % 2 else range(13, N_ITEMS + 1)
        for m in rng.choice(list(half), PER_USER, replace=False):
            rows.append((u, int(m), int(rng.integers(1, 6)), 880_000_000 + u * 1000 + int(m)))
    return rows


def write_100k(folder: Path) -> None:
    text = "".join(f"{u}\t{m}\t{r}\t{t}\n" for u, m, r, t in ratings())
    (folder / "u.data").write_text(text)
    flags = "|".join(["0"] * 19)
    movies = "".join(f"{m}|Film {m} (1995)|01-Jan-1995||http://x|{flags}\n" for m in range(1, 25))
    (folder / "u.item").write_bytes(movies.encode("latin-1"))
    users = "".join(f"{u}|{20 + u}|{'MF'[u % 2]}|writer|0000{u}\n" for u in range(1, 31))
    (folder / "u.user").write_text(users)


def write_1m(folder: Path) -> None:
    (folder / "ratings.dat").write_text(
        "".join(f"{u}::{m}::{r}::{t}\n" for u, m, r, t in ratings())
    )


def write_latest(folder: Path) -> None:
    rows = "".join(f"{u},{m},{r}.0,{t}\n" for u, m, r, t in ratings())
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n" + rows)
    (folder / "README.txt").write_text("Summary\n=======\n\nThis dataset (ml-latest-small) ...\n")


@pytest.mark.parametrize(
    ("write", "name"),
    [(write_100k, "ml-100k"), (write_1m, "ml-1m"), (write_latest, "ml-latest-small")],
)
def test_each_release_is_read_and_labelled_by_what_was_read(
    tmp_path: Path, write: Callable[[Path], None], name: str
) -> None:
    write(tmp_path)
    result = movielens_benchmark(tmp_path, ["popularity", "itemknn"], (0, 1), protocol="ms")
    assert result["dataset"]["name"] == name
    counts = (result["dataset"]["users"], result["dataset"]["items"], result["dataset"]["ratings"])
    assert counts == (N_USERS, N_ITEMS, N_USERS * PER_USER)
    assert result["dataset"]["published"] is False  # 360 ratings is no published release
    # so no published figure is compared, whatever the name says
    assert result["comparison"]["compared"] is False
    assert name in result["comparison"]["reason"]
    assert 0.0 < result["models"]["itemknn"]["ndcg"]["mean"] <= 1.0


def test_params_are_those_each_seed_was_fitted_with_nested_tuning_included(tmp_path: Path) -> None:
    write_100k(tmp_path)
    result = movielens_benchmark(
        tmp_path,
        ["itemknn", "ease"],
        (0, 1),
        params={"itemknn": {"neighbors": 7}},
        nested=["ease"],
        k=5,
    )
    assert [p["neighbors"] for p in result["params"]["itemknn"]] == [7, 7]
    assert result["params"]["itemknn"][0]["shrinkage"] == 0.0  # the in-code default
    tuned = [p["l2"] for p in result["params"]["ease"]]
    assert len(tuned) == 2 and all(isinstance(v, float) for v in tuned)
    assert result["nested_tuning"] == ["ease"]


def test_the_80_10_10_protocol_excludes_validation_items_at_test_time(tmp_path: Path) -> None:
    write_100k(tmp_path)
    result = movielens_benchmark(tmp_path, ["popularity"], (0,), protocol="80-10-10", k=5)
    assert "80/10/10" in result["protocol"] and "validation items" in result["protocol"]
    with pytest.raises(ValidationFailedError, match="unknown protocol"):
        movielens_benchmark(tmp_path, ["popularity"], (0,), protocol="70-30")


def test_cli_needs_a_folder_for_movielens_and_prints_the_label(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["bench", "accuracy", "--dataset", "movielens", "--models", "popularity"]
    missing = runner.invoke(app, args)
    assert missing.exit_code != 0 and "--data DIR" in missing.output
    write_1m(tmp_path)
    done = runner.invoke(app, [*args, "--data", str(tmp_path), "--seeds", "1"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["dataset"]["name"] == "ml-1m"


@pytest.mark.data
def test_the_published_ml100k_is_compared_with_published_figures(shared_data: Path) -> None:
    folder = shared_data / "ml-100k"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    result = movielens_benchmark(folder, ["popularity"], (0,))
    assert result["dataset"]["published"] is True
    assert result["comparison"]["compared"] is True and "BiVAE" in result["comparison"]["reference"]


def test_any_ml_name_is_a_movielens_folder_labelled_by_its_files(tmp_path: Path) -> None:
    write_latest(tmp_path)
    runner = CliRunner()
    args = ["bench", "accuracy", "--dataset", "ml-100k", "--data", str(tmp_path), "--seeds", "1"]
    done = runner.invoke(app, [*args, "--models", "popularity"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.output)
    # asked for "ml-100k", read a latest-small folder: labelled and compared as what was read
    assert result["dataset"]["name"] == "ml-latest-small"
    assert result["comparison"]["compared"] is False
    missing = runner.invoke(app, ["bench", "accuracy", "--dataset", "ml-nope", "--seeds", "1"])
    assert missing.exit_code != 0 and "is missing" in missing.output
