"""Pipelined chunks (validate the next while the last is stored) behave as batches in turn."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tastemaker.storage.base import DeadLetter
from tastemaker.workspace import Workspace


def _raw_events(n: int) -> pl.DataFrame:
    """Events with a bad type every 7th row and an id repeated every 5th (across chunks)."""
    return pl.DataFrame(
        {
            "event_id": [f"e{i - 3 if i % 5 == 4 else i}" for i in range(n)],
            "user_id": [f"user{i % 4}" for i in range(n)],
            "type": ["teleport" if i % 7 == 6 else "view" for i in range(n)],
            "item_id": [f"i{i % 9}" for i in range(n)],
            "timestamp": [f"2026-01-01T10:{i // 60:02d}:{i % 60:02d}Z" for i in range(n)],
        }
    )


def _letters(ws: Workspace) -> list[tuple[int, str, str, str | None]]:
    rows: list[DeadLetter] = ws.store.dead_letters()
    return sorted((d.row_index, d.field, d.reason, d.event_id) for d in rows)


def test_chunks_match_batches_one_after_another(tmp_path: Path) -> None:
    raw = _raw_events(50)
    chunks = [(raw.slice(o, 8), o + 1) for o in range(0, raw.height, 8)]
    one = Workspace.init(tmp_path / "one")
    piped = Workspace.init(tmp_path / "piped")
    seen: list[pl.DataFrame] = []
    piped.ingestor.add_listener(seen.append)
    try:
        expected = [one.ingestor.ingest_events(f, "f.csv", first_row=r) for f, r in chunks]
        got = list(piped.ingestor.ingest_chunks("event", iter(chunks), "f.csv"))
        assert [s.model_dump() for s in got] == [s.model_dump() for s in expected]
        assert sum(s.accepted for s in got) == piped.store.count_events()
        # Each workspace has its own key (so its own pseudonyms) and arrival times.
        same = ["event_id", "type", "item_id", "timestamp"]
        stored = piped.store.events().sort("seq")
        assert stored.select(same).equals(one.store.events().sort("seq").select(same))
        assert pl.concat(seen)["event_id"].to_list() == stored["event_id"].to_list()
        assert _letters(piped) == _letters(one)
        assert not any('"user1"' in d.payload for d in piped.store.dead_letters())  # pseudonyms
        again = list(piped.ingestor.ingest_chunks("event", iter(chunks), "f.csv"))
        assert sum(s.accepted for s in again) == 0  # idempotent
    finally:
        one.close()
        piped.close()
