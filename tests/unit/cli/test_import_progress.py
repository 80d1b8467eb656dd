"""`tastemaker import` reads in batches: progress moves during the read and counts are exact."""

from pathlib import Path

import polars as pl
import pytest

from tastemaker.cli.imports import import_file
from tastemaker.ingest.readers import read_batches, read_table
from tastemaker.workspace import Workspace

ROWS = 2_500


def _items() -> pl.DataFrame:
    return pl.DataFrame({"item_id": [f"i{n:05d}" for n in range(ROWS)], "brand": ["b"] * ROWS})


@pytest.mark.parametrize("suffix", ["csv", "jsonl", "parquet", "csv.gz"])
def test_batches_cover_the_file_exactly(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"items.{suffix}"
    frame = _items()
    if suffix == "parquet":
        frame.write_parquet(path)
    elif suffix == "jsonl":
        frame.write_ndjson(path)
    elif suffix == "csv":
        frame.write_csv(path)
    else:
        import gzip

        path.write_bytes(gzip.compress(frame.write_csv().encode()))
    batches = list(read_batches(path, 1_000))
    assert len(batches) > 1
    assert pl.concat(batches).equals(read_table(path))


def test_import_reports_progress_per_batch_with_exact_counts(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    path = tmp_path / "items.csv"
    _items().write_csv(path)
    seen: list[int] = []
    try:
        summary = import_file(
            ws, "items", path, show_progress=False, chunk=1_000, on_progress=seen.append
        )
    finally:
        ws.close()
    assert len(seen) > 1
    assert seen[-1] == ROWS
    assert seen == sorted(seen)
    assert summary.received == ROWS and summary.accepted == ROWS
