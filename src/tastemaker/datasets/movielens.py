"""MovieLens loaders: 100k (``u.data``), 1M (``ratings.dat``) and latest (``ratings.csv``).

Ratings become ``rating`` events (``value`` = stars); movies become items (title, genres
as ``text`` and a ``genres`` attribute, first genre as ``category``, release year); users
keep their demographics. Files of 100k and 1M are Latin-1, latest is UTF-8. The loaded
data set is named by what was read (``ml-100k``, ``ml-1m``, ``ml-latest-small``, ...);
:func:`describe_movielens` says whether it is the published release, counts and all.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import polars as pl

from tastemaker.datasets._frames import LoadedDataset, epoch_seconds, finish_events
from tastemaker.errors import ValidationFailedError

ML100K_GENRES = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
]


#: Users, items and ratings of the published releases (GroupLens' READMEs).
PUBLISHED_COUNTS: dict[str, tuple[int, int, int]] = {
    "ml-100k": (943, 1682, 100_000),
    "ml-1m": (6040, 3706, 1_000_209),
    "ml-latest-small": (610, 9724, 100_836),
}


def describe_movielens(data: LoadedDataset) -> dict[str, Any]:
    """What a loaded MovieLens folder holds: its name, counts, and whether the counts are
    those of the published release of that name (``published``)."""
    events = data.events
    counts = (
        events["user_id"].n_unique(),
        events["item_id"].n_unique(),
        events.height,
    )
    return {
        "name": data.name,
        "users": counts[0],
        "items": counts[1],
        "ratings": counts[2],
        "published": PUBLISHED_COUNTS.get(data.name) == counts,
    }


def detect_format(path: Path) -> str:
    """Return ``100k``, ``1m`` or ``latest`` for a MovieLens folder."""
    p = Path(path)
    if (p / "u.data").is_file():
        return "100k"
    if (p / "ratings.dat").is_file():
        return "1m"
    if (p / "ratings.csv").is_file():
        return "latest"
    raise ValidationFailedError(
        f"{p}: not a MovieLens folder (expected u.data, ratings.dat or ratings.csv)", field="path"
    )


def load_movielens(path: str | Path) -> LoadedDataset:
    """Load a MovieLens folder of any supported format into tastemaker frames."""
    p = Path(path)
    fmt = detect_format(p)
    loader = {"100k": _load_100k, "1m": _load_1m, "latest": _load_latest}[fmt]
    return loader(p)


def _rating_events(raw: pl.DataFrame) -> pl.DataFrame:
    frame = raw.select(
        pl.format("ml-{}-{}", pl.col("user"), pl.col("movie")).alias("event_id"),
        pl.col("user").cast(pl.String).alias("user_id"),
        pl.lit("rating").alias("type"),
        pl.col("movie").cast(pl.String).alias("item_id"),
        pl.col("rating").cast(pl.Float64).alias("value"),
        epoch_seconds("ts").alias("timestamp"),
    )
    return finish_events(frame)


def _read_lines(path: Path, encoding: str) -> list[str]:
    return path.read_bytes().decode(encoding).splitlines()


def _split_lines(lines: list[str], sep: str, names: list[str]) -> pl.DataFrame:
    rows = [line.split(sep) for line in lines if line]
    if not rows:
        return pl.DataFrame(schema=dict.fromkeys(names, pl.String))
    cols = list(zip(*rows, strict=False))
    return pl.DataFrame({n: list(c) for n, c in zip(names, cols, strict=False)})


def _items(movies: pl.DataFrame) -> pl.DataFrame:
    """``movies`` has item_id, title, genres (``|``-joined)."""
    year = pl.col("title").str.extract(r"\((\d{4})\)\s*$").cast(pl.Int32, strict=False)
    return movies.select(
        pl.col("item_id").cast(pl.String),
        pl.col("genres").str.split("|").list.first().alias("category"),
        pl.col("title"),
        pl.format(
            "{} {}", pl.col("title"), pl.col("genres").str.replace_all("|", " ", literal=True)
        ).alias("text"),
        pl.col("genres"),
        year.alias("year"),
    )


def _load_100k(p: Path) -> LoadedDataset:
    raw = pl.read_csv(
        p / "u.data",
        separator="\t",
        has_header=False,
        new_columns=["user", "movie", "rating", "ts"],
        schema_overrides={"user": pl.Int64, "movie": pl.Int64, "rating": pl.Int64, "ts": pl.Int64},
    )
    names = ["item_id", "title", "release", "video", "url", *ML100K_GENRES]
    movies = _split_lines(_read_lines(p / "u.item", "latin-1"), "|", names)
    flags = movies.select(ML100K_GENRES)
    genre_list = [
        "|".join(g for g, f in zip(ML100K_GENRES, row, strict=True) if f == "1") or "unknown"
        for row in flags.iter_rows()
    ]
    items = _items(movies.with_columns(pl.Series("genres", genre_list)))
    users = _split_lines(
        _read_lines(p / "u.user", "latin-1"), "|", ["user_id", "age", "gender", "occupation", "zip"]
    ).with_columns(pl.col("age").cast(pl.Int32), pl.lit(True).alias("consent"))
    return LoadedDataset("ml-100k", _rating_events(raw), items, _users(users))


def _load_1m(p: Path) -> LoadedDataset:
    lines = _read_lines(p / "ratings.dat", "latin-1")
    raw = _split_lines(lines, "::", ["user", "movie", "rating", "ts"]).select(
        pl.all().cast(pl.Int64)
    )
    movies = (
        _split_lines(_read_lines(p / "movies.dat", "latin-1"), "::", ["item_id", "title", "genres"])
        if (p / "movies.dat").is_file()
        else pl.DataFrame(schema={"item_id": pl.String, "title": pl.String, "genres": pl.String})
    )
    users = (
        _split_lines(
            _read_lines(p / "users.dat", "latin-1"),
            "::",
            ["user_id", "gender", "age", "occupation", "zip"],
        ).with_columns(pl.col("age").cast(pl.Int32), pl.lit(True).alias("consent"))
        if (p / "users.dat").is_file()
        else pl.DataFrame(schema={"user_id": pl.String, "consent": pl.Boolean})
    )
    return LoadedDataset("ml-1m", _rating_events(raw), _items(movies), _users(users))


def _load_latest(p: Path) -> LoadedDataset:
    raw = pl.read_csv(p / "ratings.csv").select(
        pl.col("userId").alias("user"),
        pl.col("movieId").alias("movie"),
        pl.col("rating"),
        pl.col("timestamp").alias("ts"),
    )
    movies = (
        pl.read_csv(p / "movies.csv", infer_schema=False).rename({"movieId": "item_id"})
        if (p / "movies.csv").is_file()
        else pl.DataFrame(schema={"item_id": pl.String, "title": pl.String, "genres": pl.String})
    )
    events = _rating_events(raw)
    users = (
        events.select("user_id")
        .unique(maintain_order=True)
        .with_columns(pl.lit(True).alias("consent"))
    )
    return LoadedDataset(_latest_name(p, events.height), events, _items(movies), users)


def _latest_name(p: Path, ratings: int) -> str:
    """The release a ``ratings.csv`` folder names in its README (ml-latest-small, ml-25m,
    ...); without one, ``ml-latest-small`` below a million ratings, else ``ml-latest``."""
    readme = p / "README.txt"
    if readme.is_file():
        found = re.search(r"ml-(latest-small|latest|\d+m)\b", readme.read_text(errors="replace"))
        if found:
            return found.group(0)
    return "ml-latest-small" if ratings < 1_000_000 else "ml-latest"


def _users(frame: pl.DataFrame) -> pl.DataFrame:
    first = ["user_id", "consent"]
    return frame.select(*first, *[c for c in frame.columns if c not in first])
