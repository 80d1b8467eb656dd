"""`segments stats` and `segments quality` tables keep every value whole at 80 columns."""

from datetime import UTC, datetime, timedelta

import polars as pl
from rich.console import Console

from tastemaker.cli.segments import quality_table, stats_table
from tastemaker.evaluation.segments import SegmentQuality

SEGMENTS = [f"high_value_shoppers_{i:02d}" for i in range(12)]


def _render(table: object) -> str:
    console = Console(width=80, record=True, color_system=None)
    console.print(table)
    return console.export_text()


def test_stats_table_with_twelve_segments_fits_80_columns() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        (start + timedelta(days=d), 1, name, 1000 * d + i)
        for d in range(3)
        for i, name in enumerate(SEGMENTS)
    ]
    history = pl.DataFrame(rows, schema=["at", "rules_version", "segment", "members"], orient="row")
    text = _render(stats_table(history))
    assert "…" not in text
    assert all(len(line) <= 80 for line in text.splitlines())
    flat = text.replace("│", " ").replace("\n", " ")
    for name in SEGMENTS:
        assert name in flat.replace(" ", "") or name in flat
    assert "2026-01-03 00:00:00" in text and "2,011" in text


def test_quality_table_shows_every_number_at_80_columns() -> None:
    report = [
        SegmentQuality(name, 123_456, 9_876_543, 0.123, 0.456, 0.789, 0.012) for name in SEGMENTS
    ]
    text = _render(quality_table(report, "segment quality"))
    assert "…" not in text
    for header in ("members", "views", "truth P", "truth R"):
        assert header in text
    assert text.count("9,876,543") == len(SEGMENTS)
    assert text.count("0.012") == len(SEGMENTS)
