"""The transactional outbox: the event log is published to the bus past a watermark.

An event is committed to the log first; publishing it is derived work done by a
`LogFollower` of the ``published`` watermark, which moves only after the bus accepted the
events (XADD succeeded). If publishing fails, the events stay past the watermark and the next
attempt publishes them: the next append of any process (a retried request that only finds
duplicates included), this process's retry, or a stream worker (`publish_pending`). An event
stored is an event delivered, at least once: a publish whose watermark write failed is sent
again, and consumers apply events idempotently (by event id).
"""

from __future__ import annotations

import contextlib
import logging

import polars as pl

from tastemaker.errors import StoreUnavailableError
from tastemaker.storage.base import Advance, Lease, Store
from tastemaker.storage.bus import EventBus
from tastemaker.storage.follower import LogFollower

log = logging.getLogger(__name__)

#: The watermark of the outbox.
WATERMARK = "published"
#: How long the outbox's lease lasts unless renewed (each publish renews it).
LEASE_MS = 30_000


class Outbox:
    """Publishes the event log to ``bus`` in ``seq`` order, one process at a time.

    Args:
        store: the store holding the log.
        bus: where events go (Redis Streams).
        chunk: most events read from the log per publish.
        retry_max_s: longest pause between background retries of a failed publish.
    """

    def __init__(
        self, store: Store, bus: EventBus, *, chunk: int = 8_000, retry_max_s: float = 5.0
    ) -> None:
        self.store = store
        self.bus = bus
        self.ttl_ms = LEASE_MS
        self.follower = LogFollower(store, WATERMARK, self._step, ttl_ms=self.ttl_ms,
                                    chunk=chunk, retry_max_s=retry_max_s)  # fmt: skip
        self._closed = False

    def listener(self, events: pl.DataFrame) -> None:
        """Ingestor listener: publish the log up to the events just appended (a frame with
        ``seq``). Never fails ingestion: the events are stored, and published later."""
        # the bus or the store is down (logged by the follower): retried in the background
        with contextlib.suppress(Exception):
            self.follower.request(events)

    def publish_pending(self) -> bool:
        """Publish whatever the log holds past the watermark; False when another process is
        publishing (it goes on in the background).

        Raises:
            StoreUnavailableError: the bus or the store cannot be reached.
        """
        return self.follower.request()

    def close(self, timeout: float = 10.0) -> bool:
        """Publish what this process still owes (waiting up to ``timeout`` seconds; what
        is left is published by the next writer or a worker), then stop retrying."""
        if self._closed:
            return self.follower.seen >= self.follower.owed
        self._closed = True
        done = self.follower.flush(timeout)
        self.follower.close()
        return done

    def pending(self) -> int:
        """Events stored but not published yet."""
        return max(0, self.store.last_seq() - self.store.watermark(WATERMARK).seq)

    def _step(self, frame: pl.DataFrame, lease: Lease, release: bool) -> Lease:
        last = int(frame["seq"].max())  # type: ignore[arg-type]
        try:
            self.bus.publish(frame)
        except StoreUnavailableError:
            raise
        except Exception as exc:  # e.g. a Redis timeout raised outside the bus's guard
            raise StoreUnavailableError(f"cannot publish events: {exc}") from exc
        return self.store.advance_lease(Advance(lease, last, release, self.ttl_ms))
