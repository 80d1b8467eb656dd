"""The one way events the platform makes itself reach the Ingestor: :class:`EventSink`.

Requests only append a typed record to a buffer (no thread wake-up, no frame per
request); one background thread turns the buffer into one typed frame and ingests it
every ``flush_seconds``, or at once when ``batch`` records wait. :meth:`EventSink.flush`
stores everything queued in the caller's thread (feedback uses it, so "not interested"
acts before the answer), and :meth:`EventSink.close` stores what is left at shutdown.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from tastemaker.engine.events import PlatformRecord, records_frame
from tastemaker.ingest.service import Ingestor
from tastemaker.schema import IngestSummary
from tastemaker.storage.outage import is_outage

log = logging.getLogger(__name__)


class EventSink:
    """Buffers platform records and ingests them in batches from a daemon thread.

    Args:
        ingestor: the workspace's ingestor (validation, storage, listeners).
        flush_seconds: longest wait before a partial batch is stored.
        batch: records that trigger a write before ``flush_seconds``.
        max_queue: records kept waiting (those the store could not take during an outage
            included); beyond it records are dropped and counted.
        on_stored: called with the number of events of each stored batch (metrics).
    """

    def __init__(
        self,
        ingestor: Ingestor,
        flush_seconds: float = 0.5,
        batch: int = 2000,
        max_queue: int = 20_000,
        on_stored: Callable[[int], None] | None = None,
    ) -> None:
        self.ingestor = ingestor
        self.flush_seconds = flush_seconds
        self.batch = batch
        self.max_queue = max_queue
        self.on_stored = on_stored
        self.stored = 0
        self.dropped = 0
        self.failed = 0
        self._buffer: list[PlatformRecord] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="tm-events", daemon=True)
        self._thread.start()

    def put(self, record: PlatformRecord) -> None:
        """Queue a record (never blocks on storage)."""
        with self._lock:
            if len(self._buffer) >= self.max_queue:
                self.dropped += 1
                return
            self._buffer.append(record)
            full = len(self._buffer) >= self.batch
        if full:
            self._wake.set()

    def flush(self) -> IngestSummary | None:
        """Store every record queued so far, in the caller's thread; the batch's summary.

        Raises:
            TastemakerError: the batch could not be stored (the records are counted as
                failed; the background thread logs instead of raising).
        """
        return self._write(raise_errors=True)

    def close(self) -> None:
        """Store what is left and stop the thread."""
        self._closed = True
        self._wake.set()
        self._thread.join(timeout=30)
        self._write(raise_errors=False)

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self._write(raise_errors=False)

    def _requeue(self, batch: list[PlatformRecord]) -> None:
        """Put records the store could not take (an outage) back in front of the buffer,
        within ``max_queue`` (the newest beyond it are dropped and counted)."""
        with self._lock:
            keep = max(0, self.max_queue - len(self._buffer))
            self._buffer = batch[:keep] + self._buffer
            self.dropped += len(batch) - min(keep, len(batch))
            waiting = len(self._buffer)
        log.warning("platform records kept for a retry (%d waiting): the store is unavailable",
                    waiting)  # fmt: skip

    def _write(self, raise_errors: bool) -> IngestSummary | None:
        with self._write_lock:
            with self._lock:
                batch, self._buffer = self._buffer, []
            if not batch:
                return None
            try:
                frame = records_frame(batch)
                summary = self.ingestor.ingest_events(frame, "platform", ids_pseudonymized=True)
            except Exception as exc:
                if not raise_errors and is_outage(exc):
                    self._requeue(batch)  # the next flush stores them (ids make it idempotent)
                    return None
                self.failed += len(batch)
                if raise_errors:
                    raise
                log.exception("could not store %d platform records as events", len(batch))
                return None
            self.stored += frame.height
            if self.on_stored is not None:
                self.on_stored(frame.height)
            return summary
