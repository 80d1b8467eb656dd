"""Inspecting and replaying dead letters."""

from __future__ import annotations

import time

import orjson
import polars as pl

from tastemaker.ingest.limits import is_replayable
from tastemaker.ingest.service import Ingestor
from tastemaker.schema import IngestSummary
from tastemaker.storage.base import DeadLetter


def replay(ingestor: Ingestor, letters: list[DeadLetter]) -> IngestSummary:
    """Send dead letters through ingestion again; the ones now accepted are marked replayed.

    Rows that still fail keep their original dead letter (no new copy is made).
    Letters that keep only an excerpt of their row, or lost content the body parser
    removed, cannot be replayed: they count as refused again and stay.
    """
    summary = IngestSummary()
    for kind in ("event", "item", "user"):
        rows = [(d, orjson.loads(d.payload)) for d in letters if d.kind == kind]
        batch = [d for d, row in rows if is_replayable(row)]
        kept = len(rows) - len(batch)
        if kept:
            summary = summary.merge(IngestSummary(received=kept, rejected=kept))
        if not batch:
            continue
        payloads = [row for _, row in rows if is_replayable(row)]
        frame = pl.DataFrame(payloads, infer_schema_length=None)
        result = _replay_kind(ingestor, kind, frame, batch)
        summary = summary.merge(result)
    return summary


def _replay_kind(
    ingestor: Ingestor, kind: str, frame: pl.DataFrame, batch: list[DeadLetter]
) -> IngestSummary:
    from tastemaker.ingest.catalog import validate_items, validate_users
    from tastemaker.ingest.validate import ROW, validate_events

    cfg = ingestor.settings.ingest
    if kind == "event":
        checked = validate_events(frame, cfg)
    else:
        checked = (validate_items if kind == "item" else validate_users)(frame, cfg)
    ok_rows = checked.valid[ROW].to_list()
    still_bad = frame.height - len(ok_rows)
    if not ok_rows:
        return IngestSummary(received=frame.height, rejected=still_bad)
    good = frame[ok_rows]
    if kind == "event":
        result = ingestor.ingest_events(good, "replay", ids_pseudonymized=True)
    elif kind == "item":
        result = ingestor.ingest_items(good, "replay")
    else:
        result = ingestor.ingest_users(good, "replay", ids_pseudonymized=True)
    ids = [batch[i].id for i in ok_rows if batch[i].id is not None]
    ingestor.store.mark_replayed([i for i in ids if i is not None], int(time.time() * 1000))
    result.received = frame.height
    result.rejected = still_bad
    return result
