"""The audit log: rows written and read back, outcomes checked, no way to change a row."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from tastemaker.access import AuditLog, cli_actor
from tastemaker.workspace import Workspace

SRC = Path(__file__).resolve().parents[3] / "src" / "tastemaker"


def test_rows_come_back_oldest_first_with_their_detail(sqlite_workspace: Workspace) -> None:
    log = AuditLog(sqlite_workspace.store)
    first = log.record("cli:ann", "keys.create", "abc", "ok", scopes=["read"])
    second = log.record("key:abc (x)", "DELETE /v1/items/{item_id}", "i1", "refused")
    rows = log.entries()
    assert [r.seq for r in rows] == [first, second] and second > first
    assert orjson.loads(rows[0].detail) == {"scopes": ["read"]}
    assert rows[1].outcome == "refused" and rows[1].target == "i1"
    assert [r.seq for r in log.entries(limit=1)] == [second]
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert log.entries(since=later) == []


def test_client_text_is_stored_escaped_and_bounded(sqlite_workspace: Workspace) -> None:
    log = AuditLog(sqlite_workspace.store)
    log.record("anonymous@x", "DELETE /v1/items/{item_id}", "bad\x00" + "y" * 1000, "refused")
    (row,) = log.entries()
    assert row.target is not None and row.target.startswith("bad\\x00y")
    assert len(row.target) == 512


def test_an_unknown_outcome_is_refused(sqlite_workspace: Workspace) -> None:
    with pytest.raises(ValueError, match="audit outcome"):
        AuditLog(sqlite_workspace.store).record("cli:ann", "x", None, "maybe")


def test_the_cli_actor_names_the_os_user() -> None:
    assert re.fullmatch(r"cli:\S+", cli_actor())


def test_no_code_path_updates_or_deletes_audit_rows() -> None:
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"(update|delete)\(\s*t\.audit_log", text), path
        assert "DELETE FROM audit_log" not in text.upper().replace("  ", " "), path
