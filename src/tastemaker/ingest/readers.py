"""Reading event, item and user files: CSV (optionally gzipped), JSON Lines and Parquet."""

from __future__ import annotations

from collections.abc import Iterator
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


def count_rows(path: Path, fmt: str | None = None) -> int | None:
    """Rows in ``path`` when the file says so cheaply (Parquet metadata), else None."""
    if (fmt or detect_format(path)) != "parquet":
        return None
    return int(pl.scan_parquet(path).select(pl.len()).collect().item())


def read_batches(path: Path, rows: int, fmt: str | None = None) -> Iterator[pl.DataFrame]:
    """Read a file in batches of about ``rows`` rows, typed as `read_table` types them.

    Plain CSV, JSON Lines and Parquet are streamed; a compressed CSV is read whole, then cut.

    Raises:
        ValidationFailedError: the file is missing or cannot be parsed (with the reason).
    """
    if not path.is_file():
        raise ValidationFailedError(f"{path}: no such file")
    fmt = fmt or detect_format(path)
    name = path.name.lower()
    if fmt == "csv" and name.endswith((".csv", ".tsv")):
        sep = "\t" if name.endswith(".tsv") else ","
        lazy = pl.scan_csv(path, infer_schema=False, separator=sep)
    elif fmt == "jsonl" and not name.endswith((".gz", ".zst")):
        lazy = pl.scan_ndjson(path, infer_schema_length=10_000)
    elif fmt == "parquet":
        lazy = pl.scan_parquet(path)
    else:
        frame = read_table(path, fmt)
        yield from (frame.slice(offset, rows) for offset in range(0, frame.height, rows))
        return
    try:
        yield from lazy.collect_batches(chunk_size=rows)
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise ValidationFailedError(f"{path}: cannot be read as {fmt}: {exc}") from exc
