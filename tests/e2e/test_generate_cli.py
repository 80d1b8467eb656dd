"""`tastemaker generate marketplace` as a user runs it, then `import` of its files."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from tastemaker.cli.app import app
from tastemaker.workspace import Workspace

runner = CliRunner()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_generated_files_import_without_rejections(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "market"
    args = ["generate", "marketplace", "--out", str(out), "--users", "150", "--items", "120"]
    result = runner.invoke(app, [*args, "--days", "3", "--seed", "5", "--format", fmt, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["users"] == 150 and summary["items"] == 120 and summary["events"] > 500
    assert sorted(Path(p).name for p in summary["files"].values()) == [
        f"events.{fmt}",
        "ground_truth.json",
        f"items.{fmt}",
        f"users.{fmt}",
    ]
    Workspace.init(tmp_path / "ws").close()
    for kind in ("items", "users", "events"):
        imported = runner.invoke(
            app, ["import", kind, str(out / f"{kind}.{fmt}"), "--workspace", str(tmp_path / "ws")]
        )
        assert imported.exit_code == 0, imported.output
    ws = Workspace.open(tmp_path / "ws")
    try:
        assert ws.store.events().height == summary["events"]
        assert ws.store.items().height == 120
    finally:
        ws.close()


def test_same_seed_gives_same_files_from_the_command_line(tmp_path: Path) -> None:
    base = ["generate", "marketplace", "--users", "80", "--items", "60", "--days", "2"]
    for name in ("a", "b"):
        result = runner.invoke(app, [*base, "--out", str(tmp_path / name), "--start", "2026-03-01"])
        assert result.exit_code == 0, result.output
        assert "wrote" in result.output
    for file in ("events.parquet", "items.parquet", "users.parquet", "ground_truth.json"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()
    first = pl.read_parquet(tmp_path / "a" / "events.parquet")["timestamp"].min()
    assert first is not None and first.isoformat().startswith("2026-03-01")


def test_bad_options_fail_with_a_message(tmp_path: Path) -> None:
    bad_format = runner.invoke(
        app, ["generate", "marketplace", "--out", str(tmp_path), "--format", "xlsx"]
    )
    assert bad_format.exit_code != 0
    assert "xlsx" in bad_format.output
    bad_start = runner.invoke(
        app, ["generate", "marketplace", "--out", str(tmp_path), "--start", "yesterday"]
    )
    assert bad_start.exit_code != 0
    assert "not a date" in bad_start.output


def test_bench_generate_prints_json() -> None:
    args = ["bench", "generate", "--users", "100", "--items", "80", "--days", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["events"] > 0 and figures["seconds"] > 0
    # "seconds" is rounded to 1 ms: the rate it implies is exact up to that rounding.
    low = figures["events"] / (figures["seconds"] + 0.0005)
    high = figures["events"] / max(figures["seconds"] - 0.0005, 1e-9)
    assert low - 1 <= figures["events_per_s"] <= high + 1
    assert figures["peak_rss_mb"] > 0


def test_bench_generate_signal_reports_segments_and_model_lift() -> None:
    args = ["bench", "generate", "--users", "600", "--items", "300", "--days", "10", "--signal"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    electric = figures["segments"]["fuel_type"]["electric"]
    assert set(figures["segments"]["body_type"]) >= {"suv", "hatchback"}
    assert electric["users"] > 0 and electric["precision"] > 0.7
    assert figures["models"]["ndcg10_ease"] > figures["models"]["ndcg10_popularity"]


def test_the_next_hint_imports_into_the_workspace_it_names(tmp_path: Path) -> None:
    out = tmp_path / "market"
    args = ["generate", "marketplace", "--out", str(out), "--users", "60", "--items", "40"]
    result = runner.invoke(app, [*args, "--days", "2", "--seed", "3"])
    assert result.exit_code == 0, result.output
    hints = [line.split() for line in result.output.splitlines() if "tastemaker import" in line]
    assert [h[2] for h in hints] == ["items", "users", "events"], result.output
    Workspace.init(tmp_path / "ws").close()
    for hint in hints:
        command = [str(tmp_path / "ws") if word == "WORKSPACE" else word for word in hint[1:]]
        imported = runner.invoke(app, command)
        assert imported.exit_code == 0, (hint, imported.output)
    ws = Workspace.open(tmp_path / "ws")
    try:
        assert ws.store.items().height == 40 and ws.store.events().height > 0
    finally:
        ws.close()


def test_data_ends_now_by_default_and_at_end_when_given(tmp_path: Path) -> None:
    base = ["generate", "marketplace", "--users", "80", "--items", "60", "--days", "3"]
    before = datetime.now(UTC)
    assert runner.invoke(app, [*base, "--out", str(tmp_path / "now")]).exit_code == 0
    last = pl.read_parquet(tmp_path / "now" / "events.parquet")["timestamp"].max()
    assert isinstance(last, datetime)
    assert before - timedelta(days=1) < last <= datetime.now(UTC)
    for name in ("a", "b"):
        args = [*base, "--out", str(tmp_path / name), "--end", "2026-03-01T12:00:00Z"]
        assert runner.invoke(app, args).exit_code == 0
    assert (tmp_path / "a" / "events.parquet").read_bytes() == (
        tmp_path / "b" / "events.parquet"
    ).read_bytes()
    fixed = pl.read_parquet(tmp_path / "a" / "events.parquet")["timestamp"]
    assert datetime(2026, 2, 26, 12, tzinfo=UTC) <= fixed.min()  # type: ignore[operator]
    assert fixed.max() < datetime(2026, 3, 1, 12, tzinfo=UTC)  # type: ignore[operator]
