"""The ingestion service: validate, pseudonymize, dedupe, store, dead-letter, notify listeners."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson
import polars as pl

from tastemaker.config import Settings
from tastemaker.ingest.catalog import validate_items, validate_users
from tastemaker.ingest.pseudonymize import Pseudonymizer
from tastemaker.ingest.validate import ROW, Checked, validate_events
from tastemaker.schema import IngestSummary, Rejection
from tastemaker.storage.base import DeadLetter, Store

#: Called with the events that were newly stored (pseudonymized; timestamp in epoch ms).
EventListener = Callable[[pl.DataFrame], None]

_ID_FIELDS = ("user_id", "anonymous_id")


class Ingestor:
    """Accepts events, items and users from files or the API, one row at a time semantics.

    Valid rows are stored (events idempotently by ``event_id``); each refused row is
    answered with its index, field and reason and kept in the dead-letter table.
    """

    def __init__(self, settings: Settings, store: Store, pseudonymizer: Pseudonymizer) -> None:
        self.settings = settings
        self.store = store
        self.pseudonymizer = pseudonymizer
        self.listeners: list[EventListener] = []

    def add_listener(self, listener: EventListener) -> None:
        """Register a callable that receives every batch of newly stored events."""
        self.listeners.append(listener)

    # --- events -------------------------------------------------------------------------
    def ingest_events(
        self,
        frame: pl.DataFrame,
        source: str,
        *,
        first_row: int = 0,
        ids_pseudonymized: bool = False,
    ) -> IngestSummary:
        """Validate and store a batch of raw events.

        Args:
            frame: raw events (columns of `tastemaker.schema.EVENT_COLUMNS`).
            source: where they came from (file name or ``api``), kept with dead letters.
            first_row: number of the first row in messages (1 for data rows of a file).
            ids_pseudonymized: user ids are pseudonyms already (replayed dead letters).

        Returns:
            Counts of accepted, duplicate and refused events, with the reasons.
        """
        checked = validate_events(frame, self.settings.ingest, first_row=first_row)
        valid = checked.valid
        if not ids_pseudonymized:
            valid = self.pseudonymizer.columns(valid, _ID_FIELDS)
        result = self.store.append_events(valid.drop(ROW))
        new = valid
        if result.duplicates:
            new = valid.filter(pl.col("event_id").is_in(result.inserted_ids)).unique(
                "event_id", keep="first", maintain_order=True
            )
        self._link_identities(new)
        if self.listeners and new.height:
            stored = new.drop(ROW)
            for listener in self.listeners:
                listener(stored)
        summary = self._dead_letter(checked, "event", source, ids_pseudonymized)
        summary.received = frame.height
        summary.accepted = result.inserted
        summary.duplicates = result.duplicates
        return summary

    def _link_identities(self, new: pl.DataFrame) -> None:
        if not (new["type"] == "identify").any():
            return
        links = new.filter(
            (pl.col("type") == "identify")
            & pl.col("user_id").is_not_null()
            & pl.col("anonymous_id").is_not_null()
        )
        self.store.link_identities(links.select("anonymous_id", "user_id", "timestamp").rows())

    # --- catalog ------------------------------------------------------------------------
    def ingest_items(
        self, frame: pl.DataFrame, source: str, *, first_row: int = 0
    ) -> IngestSummary:
        """Validate and upsert catalog items."""
        checked = validate_items(frame, self.settings.ingest, first_row=first_row)
        written = self.store.upsert_items(checked.valid.drop(ROW))
        summary = self._dead_letter(checked, "item", source, True)
        summary.received, summary.accepted = frame.height, written
        return summary

    def ingest_users(
        self,
        frame: pl.DataFrame,
        source: str,
        *,
        first_row: int = 0,
        ids_pseudonymized: bool = False,
    ) -> IngestSummary:
        """Validate, pseudonymize and upsert users."""
        checked = validate_users(frame, self.settings.ingest, first_row=first_row)
        valid = checked.valid
        if not ids_pseudonymized:
            valid = self.pseudonymizer.columns(valid, ("user_id",))
        written = self.store.upsert_users(valid.drop(ROW))
        summary = self._dead_letter(checked, "user", source, ids_pseudonymized)
        summary.received, summary.accepted = frame.height, written
        return summary

    # --- refusals -------------------------------------------------------------------------
    def _dead_letter(
        self, checked: Checked, kind: str, source: str, ids_pseudonymized: bool
    ) -> IngestSummary:
        rejected = checked.rejected
        if rejected.height == 0:
            return IngestSummary()
        if not ids_pseudonymized:
            rejected = self.pseudonymizer.columns(rejected, _ID_FIELDS)
        letters: list[DeadLetter] = []
        rejections: list[Rejection] = []
        for row in rejected.iter_rows(named=True):
            payload = {k: v for k, v in row.items() if not k.startswith("_")}
            event_id = _as_str(
                payload.get("event_id") if kind == "event" else payload.get(f"{kind}_id")
            )
            letters.append(
                DeadLetter(
                    kind=kind,
                    source=source,
                    row_index=int(row[ROW]),
                    field=row["_field"],
                    reason=row["_reason"],
                    payload=orjson.dumps(payload, default=str).decode(),
                    event_id=event_id,
                )
            )
            rejections.append(
                Rejection(
                    index=int(row[ROW]),
                    field=row["_field"],
                    reason=row["_reason"],
                    event_id=event_id,
                )
            )
        self.store.add_dead_letters(letters)
        by_reason = Counter(f"{r.field}: {_reason_kind(r.reason)}" for r in rejections)
        return IngestSummary(
            rejected=len(rejections), rejections=rejections, rejected_by_reason=dict(by_reason)
        )


def _as_str(value: Any) -> str | None:
    return None if value is None or str(value).strip() == "" else str(value)


def _reason_kind(reason: str) -> str:
    """Group messages by their rule, dropping the offending value."""
    if "' = '" in reason:
        head, _, tail = reason.partition("' = '")
        _, _, rest = tail.partition("' ")
        return f"{head}' {rest}".split("(")[0].strip()
    return reason.split("(")[0].strip()
