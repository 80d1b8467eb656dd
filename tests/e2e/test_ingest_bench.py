"""The HTTP ingestion load generator works end to end (a smoke run, not a timing)."""

from __future__ import annotations

from pathlib import Path

from tastemaker.bench.http import http_ingest


def test_load_generator_posts_unique_batches_without_errors(tmp_path: Path) -> None:
    result = http_ingest(tmp_path / "ws", seconds=1.0, connections=3)
    assert result["errors"] == 0
    assert int(result["events"]) >= 500 and int(result["events"]) % 500 == 0
    assert result["connections"] == 3 and result["bus"] == "inprocess"
