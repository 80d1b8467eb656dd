"""Logging served lists as ``impression`` events through the Ingestor, off the hot path.

Requests put their list on a queue; one background thread turns batches into events
(one per item: request id, position, model version and variant in ``context``) and
ingests them, so the response never waits for the database.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import queue
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from tastemaker.ingest.service import Ingestor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Served:
    """One served list (``user_id`` already pseudonymized)."""

    request_id: str
    user_id: str
    item_ids: list[str]
    model_version: str
    variant: str
    page: str | None
    at_ms: int


def impression_frame(batch: list[Served], per_list: bool = False) -> pl.DataFrame:
    """Raw event rows (the ingestion file layout) for served lists.

    One event per item (``context.position``), or with ``per_list`` one event per list
    whose ``properties`` hold ``items`` and ``positions``.
    """
    if not per_list:
        return _per_item_frame(batch)
    rows: dict[str, list[str | None]] = {
        c: []
        for c in ("event_id", "user_id", "type", "item_id", "timestamp", "context", "properties")
    }
    for s in batch:
        list_ctx = {
            "request_id": s.request_id,
            "page": s.page,
            "model_version": s.model_version,
            "variant": s.variant,
        }
        props = {"items": s.item_ids, "positions": list(range(1, len(s.item_ids) + 1))}
        for key, value in (
            ("event_id", f"imp-{s.request_id}"),
            ("user_id", s.user_id),
            ("type", "impression"),
            ("item_id", None),
            ("timestamp", _timestamp(s.at_ms)),
            ("context", orjson.dumps(list_ctx).decode()),
            ("properties", orjson.dumps(props).decode()),
        ):
            rows[key].append(value)
    return pl.DataFrame(rows, schema=dict.fromkeys(rows, pl.String))


def _timestamp(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_LIST_SCHEMA: dict[str, pl.DataType] = {
    "request_id": pl.String(),
    "user_id": pl.String(),
    "item_id": pl.List(pl.String),
    "page": pl.String(),
    "model_version": pl.String(),
    "variant": pl.String(),
    "timestamp": pl.String(),
}


def _per_item_frame(batch: list[Served]) -> pl.DataFrame:
    """One event per served item, built column-wise (the writer thread holds the GIL)."""
    lists = pl.DataFrame(
        {
            "request_id": [s.request_id for s in batch],
            "user_id": [s.user_id for s in batch],
            "item_id": [s.item_ids for s in batch],
            "page": [s.page for s in batch],
            "model_version": [s.model_version for s in batch],
            "variant": [s.variant for s in batch],
            "timestamp": [_timestamp(s.at_ms) for s in batch],
        },
        schema=_LIST_SCHEMA,
    )
    rows = lists.with_columns(position=pl.int_ranges(1, pl.col("item_id").list.len() + 1))
    rows = rows.explode("item_id", "position")
    context = pl.struct("request_id", "position", "page", "model_version", "variant")
    return rows.select(
        event_id=pl.format("imp-{}-{}", "request_id", "position"),
        user_id="user_id",
        type=pl.lit("impression"),
        item_id="item_id",
        timestamp="timestamp",
        context=context.struct.json_encode(),
        properties=pl.lit(None, pl.String),
    )


class ImpressionLogger:
    """Buffers served lists and ingests them in batches from a daemon thread.

    ``log`` only appends to a list (no thread wake-up per request); the thread writes the
    buffer every ``flush_seconds``, or at once when ``batch`` lists are waiting. ``close``
    (called when the API shuts down) writes what is left.

    Args:
        ingestor: the workspace's ingestor (validation, listeners).
        max_queue: lists kept waiting; beyond it lists are dropped and counted.
        flush_seconds: longest wait before a partial batch is written.
        per_list: one event per served list instead of one per item.
        batch: lists that trigger a write before ``flush_seconds``.
    """

    def __init__(
        self,
        ingestor: Ingestor,
        max_queue: int = 10_000,
        flush_seconds: float = 2.0,
        per_list: bool = False,
        batch: int = 2000,
    ) -> None:
        self.ingestor = ingestor
        self.per_list = per_list
        self.flush_seconds = flush_seconds
        self.max_queue = max_queue
        self.batch = batch
        self.logged = 0
        self.dropped = 0
        self._buffer: list[Served] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="tm-impressions", daemon=True)
        self._thread.start()

    def log(self, served: Served) -> None:
        """Queue a served list (never blocks on storage)."""
        with self._lock:
            if len(self._buffer) >= self.max_queue:
                self.dropped += 1
                return
            self._buffer.append(served)
            full = len(self._buffer) >= self.batch
        if full:
            self._wake.set()

    def flush(self, timeout: float = 10.0) -> None:
        """Store every list queued so far (in the caller's thread)."""
        self._write()

    def close(self) -> None:
        """Write what is left and stop the thread."""
        self._closed = True
        self._wake.set()
        self._thread.join(timeout=30)
        self._write()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self._write()

    def _write(self) -> None:
        with self._write_lock:
            with self._lock:
                batch, self._buffer = self._buffer, []
            if not batch:
                return
            try:
                frame = impression_frame(batch, self.per_list)
                self.ingestor.ingest_events(frame, "serving", ids_pseudonymized=True)
                self.logged += sum(len(b.item_ids) for b in batch)
            except Exception:  # a logging failure must never break serving
                log.exception("could not store %d served lists as impressions", len(batch))


def _ingest_loop(workspace: str, jobs: Any, done: Any, per_list: bool, flush: float) -> None:
    """Child process: open the workspace and ingest served lists in batches."""
    from tastemaker.workspace import Workspace

    ws = Workspace.open(workspace)
    # Profiles are kept by the serving process; a second profile writer here could
    # overwrite its newer states, and impressions carry no taste.
    ws.ingestor.listeners.clear()
    while True:
        batch = [jobs.get()]
        deadline = time.monotonic() + flush
        while len(batch) < 2000 and time.monotonic() < deadline:
            try:
                batch.append(jobs.get(timeout=max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                break
        try:
            ws.ingestor.ingest_events(
                impression_frame(batch, per_list), "serving", ids_pseudonymized=True
            )
        except Exception:
            log.exception("could not store %d served lists as impressions", len(batch))
        with done.get_lock():
            done.value += len(batch)


class ImpressionProcess:
    """Like :class:`ImpressionLogger`, but ingests in a child process (its own core and GIL).

    The child opens the same workspace and uses its own Ingestor; the serving process only
    queues small records, so validation and storage never stall requests.

    Args:
        workspace: the workspace folder.
        per_list: one event per served list instead of one per item.
        max_queue: lists kept waiting; beyond it lists are dropped and counted.
        flush_seconds: longest wait before a partial batch is written.
    """

    def __init__(
        self,
        workspace: Path,
        per_list: bool = False,
        max_queue: int = 20_000,
        flush_seconds: float = 1.0,
    ) -> None:
        ctx = mp.get_context("spawn")
        self.per_list = per_list
        self.submitted = 0
        self.dropped = 0
        self._jobs = ctx.Queue(max_queue)
        self._done = ctx.Value("q", 0)
        self._proc = ctx.Process(
            target=_ingest_loop,
            args=(str(workspace), self._jobs, self._done, per_list, flush_seconds),
            name="tm-impressions",
            daemon=True,
        )
        self._proc.start()

    def log(self, served: Served) -> None:
        """Queue a served list (never blocks)."""
        try:
            self._jobs.put_nowait(served)
            self.submitted += 1
        except queue.Full:
            self.dropped += 1

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every queued list is stored."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._done.value < self.submitted:
            time.sleep(0.02)

    def close(self) -> None:
        """Wait (a while) for the queued lists to be stored, then stop the child process."""
        if self._proc.is_alive():
            self.flush(timeout=10.0)
        self._proc.terminate()
