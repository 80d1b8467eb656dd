"""Profiles and segments as a user runs them: import, watch segments, change rules live."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
from fastapi.testclient import TestClient
from tests.e2e.conftest import LOOPBACK

from tastemaker.serving import create_app
from tastemaker.workspace import Workspace

STRICT = """
segments:
  electric: {attribute: fuel_type, value: electric, min_share: 0.7, exit_share: 0.7}
  suv: {attribute: body_type, value: suv}
"""


def tm(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `tastemaker ARGS` as a user does."""
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "tastemaker", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def _files(root: Path) -> None:
    pl.DataFrame({
        "item_id": ["e1", "e2", "e3", "d1", "p1"],
        "price": [41_000, 35_000, 27_000, 12_000, 8_000],
        "fuel_type": ["electric", "electric", "electric", "diesel", "petrol"],
        "body_type": ["suv", "suv", "hatchback", "suv", "sedan"],
    }).write_csv(root / "items.csv")  # fmt: skip
    browse = ["e1", "e2", "d1", "e1", "p1"]  # 3 of 5 electric (0.6), 4 of 5 SUVs (0.8)
    pl.DataFrame({
        "event_id": [f"ev{i}" for i in range(5)], "user_id": ["eve"] * 5,
        "type": ["view"] * 5, "item_id": browse, "value": [30] * 5, "session_id": ["s"] * 5,
        "timestamp": [f"2026-03-01T10:0{i}:00Z" for i in range(5)],
    }).write_csv(root / "events.csv")  # fmt: skip


def _segments(out: str) -> dict[str, float]:
    return dict(json.loads(out)["segments"])


def test_segments_follow_rule_changes_without_restart(tmp_path: Path) -> None:
    _files(tmp_path)
    assert tm("init", "ws", cwd=tmp_path).returncode == 0
    assert (tmp_path / "ws" / "segments.yaml").is_file()  # the default rules, to edit
    assert tm("import", "items", "items.csv", "-w", "ws", cwd=tmp_path).returncode == 0
    assert tm("import", "events", "events.csv", "-w", "ws", cwd=tmp_path).returncode == 0
    shown = tm("profiles", "show", "eve", "-w", "ws", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert _segments(shown.stdout)["electric"] == 0.6
    assert "suv" in _segments(shown.stdout)  # e1, e2, d1, e1 of 5 views

    running = Workspace.open(tmp_path / "ws")  # an API process that stays up
    client = TestClient(create_app(running), client=LOOPBACK)
    try:
        assert "electric" in client.get("/v1/users/eve/segments").json()["segments"]
        (tmp_path / "strict.yaml").write_text(STRICT)
        applied = tm("segments", "apply", "strict.yaml", "-w", "ws", cwd=tmp_path)
        assert applied.returncode == 0, applied.stderr
        assert "version 2 is active" in applied.stdout
        deadline = time.monotonic() + 5
        seen: dict[str, float] = {"electric": 1.0}
        while "electric" in seen and time.monotonic() < deadline:
            seen = client.get("/v1/users/eve/segments").json()["segments"]
            time.sleep(0.05)
        assert "electric" not in seen and "suv" in seen  # 0.6 < 0.7, without a restart

        (tmp_path / "bad.yaml").write_text("segments:\n  x: {attribute: fuel_type, value: a,"
                                           " min_share: 2}\n")  # fmt: skip
        refused = tm("segments", "apply", "bad.yaml", "-w", "ws", cwd=tmp_path)
        assert refused.returncode == 2 and "line 2" in refused.stderr
        versions = tm("segments", "versions", "-w", "ws", cwd=tmp_path)
        assert versions.returncode == 0 and "strict.yaml" in versions.stdout

        back = tm("segments", "rollback", "-w", "ws", cwd=tmp_path)
        assert back.returncode == 0 and "version 1 is active" in back.stdout
        audit = tm("audit", "--json", "-w", "ws", cwd=tmp_path)
        rows = [json.loads(line) for line in audit.stdout.splitlines() if line.strip()]
        said = [(r["action"], r["target"], r["outcome"]) for r in rows]
        assert said[-3:] == [("segments apply", "strict.yaml", "ok"),
                             ("segments apply", "bad.yaml", "error"),
                             ("segments rollback", None, "ok")]  # fmt: skip
        shown = tm("profiles", "show", "eve", "-w", "ws", cwd=tmp_path)
        assert "electric" in _segments(shown.stdout)
    finally:
        running.close()

    stats = tm("segments", "stats", "--json", "-w", "ws", cwd=tmp_path)
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["current"]["electric"] == 1
    rebuilt = tm("profiles", "rebuild", "-w", "ws", cwd=tmp_path)
    assert rebuilt.returncode == 0 and "rebuilt 1 profiles" in rebuilt.stdout
    missing = tm("profiles", "show", "nobody", "-w", "ws", cwd=tmp_path)
    assert missing.returncode == 1
