"""Reading event, item and user files: CSV (optionally gzipped), JSON Lines and Parquet."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tastemaker.errors import ValidationFailedError

FORMATS = ("csv", "jsonl", "parquet")


def detect_format(path: Path) -> str:
    """Return ``csv``, ``jsonl`` or ``parquet`` from the file name."""
    name = path.name.lower()
    for suffix in (".gz", ".zst"):
        name = name.removesuffix(suffix)
    if name.endswith((".csv", ".tsv")):
        return "csv"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    raise ValidationFailedError(
        f"{path}: unknown file type (expected .csv, .jsonl or .parquet, optionally .gz for csv)"
    )


def read_table(path: Path, fmt: str | None = None) -> pl.DataFrame:
    """Read a whole file into a frame; CSV columns are read as text and typed by validation.

    Raises:
        ValidationFailedError: the file is missing or cannot be parsed (with the reason).
    """
    if not path.is_file():
        raise ValidationFailedError(f"{path}: no such file")
    fmt = fmt or detect_format(path)
    try:
        if fmt == "csv":
            sep = "\t" if ".tsv" in path.name.lower() else ","
            return pl.read_csv(path, infer_schema=False, separator=sep)
        if fmt == "jsonl":
            return pl.read_ndjson(path, infer_schema_length=10_000)
        if fmt == "parquet":
            return pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise ValidationFailedError(f"{path}: cannot be read as {fmt}: {exc}") from exc
    raise ValidationFailedError(
        f"{path}: unknown format '{fmt}' (expected one of {', '.join(FORMATS)})"
    )
