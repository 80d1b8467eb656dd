"""A file of good and bad events: every good one stored once, every bad one dead-lettered."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tastemaker.cli.imports import import_file
from tastemaker.workspace import Workspace

GOOD = [
    {
        "event_id": "g1",
        "user_id": "alice",
        "type": "view",
        "item_id": "car1",
        "value": "12.5",
        "timestamp": "2026-01-01T10:00:00Z",
    },
    {
        "event_id": "g2",
        "user_id": "alice",
        "type": "click",
        "item_id": "car1",
        "value": "3",
        "timestamp": "2026-01-01T10:00:05+01:00",
    },
    {
        "event_id": "g3",
        "anonymous_id": "dev-9",
        "type": "view",
        "item_id": "car2",
        "timestamp": "2026-01-01 10:01:00",
    },
    {
        "event_id": "g4",
        "user_id": "bob",
        "type": "search",
        "timestamp": "2026-01-02",
        "properties": '{"q": "electric suv"}',
    },
]
BAD = [
    (
        {
            "event_id": "b1",
            "user_id": "bob",
            "type": "teleport",
            "item_id": "x",
            "timestamp": "2026-01-01",
        },
        "type",
        "'teleport' is not a known event type",
    ),
    (
        {
            "event_id": "b2",
            "user_id": "bob",
            "type": "view",
            "item_id": "x",
            "timestamp": "2025-13-01",
        },
        "timestamp",
        "'2025-13-01' is not a date",
    ),
    (
        {"event_id": "b3", "type": "view", "item_id": "x", "timestamp": "2026-01-01"},
        "user_id",
        "is required",
    ),
    (
        {"event_id": "b4", "user_id": "bob", "type": "purchase", "timestamp": "2026-01-01"},
        "item_id",
        "required for a 'purchase' event",
    ),
    (
        {
            "event_id": "b5",
            "user_id": "bob",
            "type": "view",
            "item_id": "x",
            "value": "NaN",
            "timestamp": "2026-01-01",
        },
        "value",
        "not a finite number",
    ),
    (
        {
            "event_id": "b6",
            "user_id": "bob",
            "type": "view",
            "item_id": "x",
            "timestamp": "2999-01-01",
        },
        "timestamp",
        "in the future",
    ),
    (
        {
            "event_id": "",
            "user_id": "bob",
            "type": "view",
            "item_id": "x",
            "timestamp": "2026-01-01",
        },
        "event_id",
        "is required",
    ),
    (
        {
            "event_id": "b8",
            "user_id": "bob",
            "type": "view",
            "item_id": "x" * 300,
            "timestamp": "2026-01-01",
        },
        "item_id",
        "longer than 256",
    ),
    (
        {
            "event_id": "b9",
            "user_id": "bob",
            "type": "view",
            "item_id": "x",
            "timestamp": "2026-01-01",
            "context": "[1, 2]",
        },
        "context",
        "not a JSON object",
    ),
]


def _write(tmp_path: Path, fmt: str) -> Path:
    rows = [GOOD[0], BAD[0][0], GOOD[1], GOOD[1], *[b for b, _, _ in BAD[1:]], GOOD[2], GOOD[3]]
    cols = [
        "event_id",
        "user_id",
        "anonymous_id",
        "type",
        "item_id",
        "value",
        "timestamp",
        "context",
        "properties",
    ]
    frame = pl.DataFrame(
        [{c: r.get(c) for c in cols} for r in rows], schema={c: pl.String for c in cols}
    )
    path = tmp_path / f"events.{fmt}"
    {"csv": frame.write_csv, "jsonl": frame.write_ndjson, "parquet": frame.write_parquet}[fmt](path)
    return path


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_mixed_file_stores_good_once_and_dead_letters_bad(
    workspace: Workspace, tmp_path: Path, fmt: str
) -> None:
    path = _write(tmp_path, fmt)
    summary = import_file(workspace, "events", path, show_progress=False)
    assert (summary.received, summary.accepted, summary.duplicates, summary.rejected) == (
        14,
        4,
        1,
        9,
    )

    stored = workspace.store.events()
    assert sorted(stored["event_id"].to_list()) == ["g1", "g2", "g3", "g4"]
    letters = workspace.store.dead_letters()
    assert len(letters) == len(BAD)
    by_field = {(d.field, d.event_id): d.reason for d in letters}
    for bad, field, phrase in BAD:
        reason = by_field[(field, bad["event_id"] or None)]
        assert phrase in reason, reason
        assert reason.startswith(f"field '{field}'")
    # Row numbers point at the file's data rows (1-based).
    assert next(d.row_index for d in letters if d.event_id == "b1") == 2

    again = import_file(workspace, "events", path, show_progress=False)
    assert (again.accepted, again.duplicates) == (0, 5)
    assert workspace.store.count_events() == 4
    assert len(workspace.store.dead_letters()) == len(BAD)


def test_raw_user_ids_never_reach_the_store(workspace: Workspace, tmp_path: Path) -> None:
    import_file(workspace, "events", _write(tmp_path, "csv"), show_progress=False)
    users = set(workspace.store.events()["user_id"].drop_nulls().to_list())
    anons = set(workspace.store.events()["anonymous_id"].drop_nulls().to_list())
    assert users == {workspace.pseudonymizer.one("alice"), workspace.pseudonymizer.one("bob")}
    assert anons == {workspace.pseudonymizer.one("dev-9")}
    payloads = " ".join(d.payload for d in workspace.store.dead_letters())
    assert '"bob"' not in payloads and workspace.pseudonymizer.one("bob") in payloads


def test_replay_accepts_fixed_dead_letters(sqlite_workspace: Workspace) -> None:
    from tastemaker.ingest.deadletters import replay

    ws = sqlite_workspace
    frame = pl.DataFrame(
        {
            "event_id": ["f1"],
            "user_id": ["carol"],
            "type": ["view"],
            "item_id": ["i"],
            "timestamp": ["2030-01-01"],
        }
    )
    first = ws.ingestor.ingest_events(frame, "api")
    assert first.rejected == 1 and "future" in first.rejections[0].reason
    ws.settings.ingest.max_future_seconds = 20 * 365 * 86400.0
    result = replay(ws.ingestor, ws.store.dead_letters())
    assert result.accepted == 1
    assert ws.store.dead_letters() == []
    # The pseudonym was not hashed twice.
    assert ws.store.events()["user_id"].to_list() == [ws.pseudonymizer.one("carol")]
