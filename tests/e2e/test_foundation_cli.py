"""The foundation as a user runs it: init, import, doctor, dead letters, export."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl


def test_init_import_doctor_deadletters_export(tmp_path: Path, tm: Callable[..., Any]) -> None:
    created = tm("init", "shop", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    key = tmp_path / "shop" / "secret.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    again = tm("init", "shop", cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr

    (tmp_path / "items.csv").write_text(
        "item_id,category,price,fuel_type\ncar1,car,30000,electric\ncar2,car,12000,diesel\n"
    )
    items = tm("import", "items", "items.csv", "-w", "shop", cwd=tmp_path)
    assert items.returncode == 0, items.stdout + items.stderr

    (tmp_path / "events.csv").write_text(
        "event_id,user_id,type,item_id,value,timestamp\n"
        "e1,alice,view,car1,12,2026-01-01T10:00:00Z\n"
        "e2,alice,view,car9,3,2026-01-01T10:01:00Z\n"
        "e3,bob,teleport,car1,,2026-01-01T10:02:00Z\n"
    )
    events = tm("import", "events", "events.csv", "-w", "shop", cwd=tmp_path)
    assert events.returncode == 1  # something was refused
    assert "row 3" in events.stdout and "'teleport' is not a known event type" in events.stdout
    assert "accepted" in events.stdout and "deadletters list" in events.stdout

    doctor = tm("doctor", "-w", "shop", cwd=tmp_path)
    assert doctor.returncode == 0, doctor.stdout
    assert "1 events, 1 item ids (e.g. car9)" in doctor.stdout
    assert "dead letters awaiting replay" in doctor.stdout

    letters = tm("deadletters", "list", "-w", "shop", cwd=tmp_path)
    assert "teleport" in letters.stdout and "events.csv" in letters.stdout

    export = tm("export", "events", "-o", "out", "-w", "shop", cwd=tmp_path)
    assert export.returncode == 0, export.stderr
    exported = pl.read_parquet(tmp_path / "out", hive_partitioning=True)
    assert sorted(exported["event_id"].to_list()) == ["e1", "e2"]
    assert "alice" not in set(exported["user_id"].to_list())


def test_missing_workspace_is_a_clear_error(tmp_path: Path, tm: Callable[..., Any]) -> None:
    result = tm("doctor", "-w", "nowhere", cwd=tmp_path)
    assert result.returncode == 2
    assert "no workspace at" in result.stderr and "tastemaker init" in result.stderr
