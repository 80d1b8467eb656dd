"""MovieLens loaders: the real ML-100k files and small fixtures of the 1M / latest formats."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tastemaker.datasets.movielens import detect_format, load_movielens
from tastemaker.errors import ValidationFailedError
from tastemaker.schema import EVENT_COLUMNS


@pytest.mark.data
def test_ml100k_counts_and_latin1_titles(shared_data: Path) -> None:
    folder = shared_data / "ml-100k"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    data = load_movielens(folder)
    assert data.events.height == 100_000
    assert data.events["user_id"].n_unique() == 943
    assert data.events["item_id"].n_unique() == 1682
    assert data.items.height == 1682 and data.users.height == 943
    assert tuple(data.events.columns) == EVENT_COLUMNS
    assert data.events["value"].value_counts().sort("value")["count"].to_list() == [
        6110,
        11370,
        27145,
        34174,
        21201,
    ]
    first = data.events.row(0, named=True)
    assert (first["user_id"], first["item_id"], first["value"]) == ("196", "242", 3.0)
    assert "Misérables, Les (1995)" in data.items["title"].to_list()
    toy = data.items.filter(pl.col("item_id") == "1").row(0, named=True)
    assert toy["year"] == 1995 and "Animation" in toy["genres"]
    assert set(data.users.columns) >= {"user_id", "consent", "age", "gender", "occupation"}


def test_ml1m_format(tmp_path: Path) -> None:
    (tmp_path / "ratings.dat").write_bytes(b"1::1193::5::978300760\n2::661::3::978302109\n")
    (tmp_path / "movies.dat").write_bytes(
        "1193::Misérables, Les (1995)::Drama|Musical\n661::Toy (1995)::Animation\n".encode(
            "latin-1"
        )
    )
    (tmp_path / "users.dat").write_bytes(b"1::F::1::10::48067\n2::M::56::16::70072\n")
    assert detect_format(tmp_path) == "1m"
    data = load_movielens(tmp_path)
    assert data.events["value"].to_list() == [5.0, 3.0]
    assert data.events["timestamp"].dtype == pl.Datetime("ms", "UTC")
    assert data.items.filter(pl.col("item_id") == "1193")["title"][0] == "Misérables, Les (1995)"
    assert data.items.filter(pl.col("item_id") == "1193")["category"][0] == "Drama"
    assert data.users["gender"].to_list() == ["F", "M"]


def test_latest_small_format(tmp_path: Path) -> None:
    (tmp_path / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n"
    )
    (tmp_path / "movies.csv").write_text(
        "movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n"
        '3,"Heat, The (1995)",Action\n'
    )
    data = load_movielens(tmp_path)
    assert data.name == "ml-latest-small"
    assert data.events["value"].to_list() == [4.0, 4.5]
    assert data.items.filter(pl.col("item_id") == "3")["title"][0] == "Heat, The (1995)"


def test_unknown_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailedError, match="not a MovieLens folder"):
        load_movielens(tmp_path)
