"""Split files: tastemaker's Parquet/CSV and RecBole's .inter round-trip a split exactly, and
evaluating on the imported split gives the numbers of the split it was exported from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from tests.unit.models.toydata import build_toy

from tastemaker.errors import ValidationFailedError
from tastemaker.evaluation.runner import evaluate_models
from tastemaker.evaluation.split_files import export_split, read_split
from tastemaker.evaluation.splits import Split, make_split
from tastemaker.models.interactions import Interactions

TOY = build_toy()


def weighted() -> Interactions:
    """Interactions with non-unit weights, a negative event, sessions and repeated pairs."""
    rng = np.random.default_rng(0)
    n = 600
    users = rng.integers(0, 40, n)
    items = rng.integers(0, 30, n)
    weights = rng.choice([1.0, 0.25, 3.5, -1.0], n)
    ts = 1_700_000_000_123 + rng.integers(0, 30 * 86_400_000, n)
    sessions = np.array([f"s{u}-{t % 3}" for u, t in zip(users, ts, strict=True)])
    return Interactions.from_arrays(
        users, items, weights, timestamps=ts, sessions=sessions, n_users=41, n_items=32
    )


def assert_same_split(a: Split, b: Split) -> None:
    assert a.train.users == b.train.users and a.train.items == b.train.items
    assert_frame_equal(a.train.log, b.train.log)
    assert_frame_equal(a.test.log, b.test.log)
    assert (a.validation is None) == (b.validation is None)
    if a.validation is not None and b.validation is not None:
        assert_frame_equal(a.validation.log, b.validation.log)
    same = ("kind", "seed", "cutoff", "dropped_users", "options")
    assert [getattr(a, f) for f in same] == [getattr(b, f) for f in same]


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
@pytest.mark.parametrize("kind", ["temporal-user", "random", "temporal", "leave-last"])
def test_export_then_read_gives_the_same_split(tmp_path: Path, fmt: str, kind: str) -> None:
    split = make_split(weighted(), kind, seed=3, valid_fraction=0.1, min_train=2)
    written = export_split(split, tmp_path, fmt=fmt, name="toy")  # type: ignore[arg-type]
    names = {p.name for p in written}
    assert {f"train.{fmt}", f"valid.{fmt}", f"test.{fmt}", "split.json"} <= names
    assert {"toy.train.inter", "toy.valid.inter", "toy.test.inter"} <= names
    assert_same_split(split, read_split(tmp_path))


def test_recbole_files_alone_round_trip_with_the_manifest(tmp_path: Path) -> None:
    split = make_split(weighted(), "random", seed=1, valid_fraction=0.1)
    export_split(split, tmp_path, name="toy")
    for part in ("train", "valid", "test"):
        (tmp_path / f"{part}.parquet").unlink()
    header = (tmp_path / "toy.train.inter").read_text().splitlines()[0].split("\t")
    assert header[:3] == ["user_id:token", "item_id:token", "timestamp:float"]
    assert "weight:float" in header  # weights are not all 1, so they travel too
    assert_same_split(split, read_split(tmp_path))


def test_reads_recbole_benchmark_files_written_elsewhere(tmp_path: Path) -> None:
    head = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
    (tmp_path / "ml.train.inter").write_text(head + "u1\ti1\t4\t881250949\nu2\ti2\t3\t881250950\n")
    (tmp_path / "ml.valid.inter").write_text(head + "u1\ti3\t5\t881250960\n")
    (tmp_path / "ml.test.inter").write_text(head + "u1\ti2\t2\t881250970.5\n")
    split = read_split(tmp_path)
    assert split.train.users.ids.tolist() == ["u1", "u2"]
    assert split.train.items.ids.tolist() == ["i1", "i2", "i3"]
    assert split.validation is not None and split.validation.log.height == 1
    assert split.test.log["timestamp"].dt.epoch("ms").to_list() == [881250970500]  # seconds
    assert split.train.log["weight"].to_list() == [1.0, 1.0]  # rating is not a weight


def test_reads_hand_made_csv_without_a_validation_part(tmp_path: Path) -> None:
    pl.DataFrame({"user_id": [1, 1, 2], "item_id": [10, 11, 10], "timestamp": [1, 2, 3]}).write_csv(
        tmp_path / "train.csv"
    )
    pl.DataFrame({"user_id": [2], "item_id": [11], "timestamp": [4]}).write_csv(
        tmp_path / "test.csv"
    )
    split = read_split(tmp_path)
    assert split.validation is None and split.kind == "from-files"
    assert split.test.log["timestamp"].dt.epoch("ms").to_list() == [4000]


def test_a_folder_without_split_files_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailedError, match="no split files"):
        read_split(tmp_path)
    pl.DataFrame({"user_id": ["1"], "item_id": ["2"]}).write_csv(tmp_path / "train.csv")
    with pytest.raises(ValidationFailedError, match=r"test\.csv is missing"):
        read_split(tmp_path)


def test_evaluating_the_imported_split_gives_the_same_numbers(tmp_path: Path) -> None:
    split = make_split(TOY.interactions, "random", seed=2, test_fraction=0.3, valid_fraction=0.2)
    export_split(split, tmp_path)
    imported = read_split(tmp_path)
    models = [("popularity", {}), ("ease", {"l2": 5.0}), ("itemknn", {"neighbors": 5})]
    kw = {"items": TOY.items, "n_bootstrap": 50}
    before = evaluate_models(TOY.interactions, models, split, [3, 5], **kw)  # type: ignore[arg-type]
    after = evaluate_models(imported.train, models, imported, [3, 5], **kw)  # type: ignore[arg-type]
    assert [m.to_dict() | {"fit_seconds": 0, "recommend_seconds": 0} for m in before.models] == [
        m.to_dict() | {"fit_seconds": 0, "recommend_seconds": 0} for m in after.models
    ]
    assert before.n_users == after.n_users > 0
