"""Logging served featured listings as `impression` events through the Ingestor.

Requests only queue the impression; a background thread sends the queue through
``Ingestor.ingest_events`` every ``flush_every`` seconds (and on `flush` / `close`), so the
event log records each served listing with its rule and variant without slowing requests.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import polars as pl

from tastemaker.ingest.service import Ingestor

log = logging.getLogger(__name__)
_COLUMNS = ("event_id", "user_id", "anonymous_id", "type", "item_id", "timestamp", "context")


class ImpressionLogger:
    """Buffers impressions and ingests them in batches.

    Args:
        ingestor: the workspace's ingestion service.
        flush_every: seconds between background flushes (0: flush on every `log`).
        max_buffer: flush at once when this many impressions are waiting.
    """

    def __init__(self, ingestor: Ingestor, flush_every: float = 1.0, max_buffer: int = 500) -> None:
        self.ingestor = ingestor
        self.flush_every = flush_every
        self.max_buffer = max_buffer
        self._rows: list[tuple[str | None, ...]] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.logged = 0

    def log(
        self,
        user_id: str | None,
        item_id: str,
        context: dict[str, Any],
        *,
        anonymous_id: str | None = None,
    ) -> str:
        """Queue one impression (ids pseudonymized already); return its event id."""
        event_id = f"imp-{uuid.uuid4().hex}"
        ts = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        row = (event_id, user_id, anonymous_id or (None if user_id else "unidentified"),
               "impression", item_id, ts, orjson.dumps(context).decode())  # fmt: skip
        with self._lock:
            self._rows.append(row)
            full = len(self._rows) >= self.max_buffer
        if self.flush_every <= 0 or full:
            self.flush()
        else:
            self._start()
        return event_id

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="impressions", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_every):
            self.flush()

    def flush(self) -> int:
        """Ingest queued impressions now; return how many were sent."""
        with self._flush_lock:
            with self._lock:
                rows, self._rows = self._rows, []
            if not rows:
                return 0
            frame = pl.DataFrame(rows, schema=dict.fromkeys(_COLUMNS, pl.String), orient="row")
            try:
                self.ingestor.ingest_events(frame, "featured", ids_pseudonymized=True)
            except Exception:
                log.exception("could not log %d featured impressions", len(rows))
                return 0
            self.logged += len(rows)
            return len(rows)

    def close(self) -> None:
        """Stop the background thread after a last flush."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.flush()


def wait_for(predicate: Any, timeout: float = 5.0) -> bool:
    """Poll ``predicate()`` until true or ``timeout`` seconds pass (tests and benchmarks)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())
