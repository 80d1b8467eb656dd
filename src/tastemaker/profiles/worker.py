"""The profile worker loop: consume events from the bus, apply them, then acknowledge.

Acknowledging only after the profiles are written (and applying idempotently) means a worker
killed at any point loses nothing and counts nothing twice once it is restarted. An outage
of Redis or the store is survived with backoff, reported in the log and on the worker's
gauges, and followed by a catch-up when the backend returns.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from tastemaker.profiles.service import ProfileService
from tastemaker.storage.bus import EventBus, Message
from tastemaker.storage.outbox import Outbox

log = logging.getLogger(__name__)


@dataclass
class WorkerStats:
    """What a worker did: messages, events, applied, and per event the publish time and the
    publish-to-visible latency (ms, measured once the profiles are written)."""

    messages: int = 0
    events: int = 0
    applied: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    published_ms: list[int] = field(default_factory=list)
    failures: int = 0


def parse_partitions(spec: str | None, partitions: int) -> list[int]:
    """Owned partitions from ``0,1,3``, ``i/n`` (every n-th from i) or None (all).

    Raises:
        ValueError: the spec names a partition out of range or is malformed.
    """
    if not spec:
        return list(range(partitions))
    if "/" in spec:
        i, n = (int(x) for x in spec.split("/", 1))
        if not 0 <= i < n:
            raise ValueError(f"--partitions {spec}: expected i/n with 0 <= i < n")
        return [p for p in range(partitions) if p % n == i]
    owned = sorted({int(x) for x in spec.split(",") if x.strip()})
    bad = [p for p in owned if not 0 <= p < partitions]
    if bad:
        raise ValueError(f"--partitions {spec}: {bad} out of range 0..{partitions - 1}")
    return owned


def process(service: ProfileService, bus: EventBus, messages: list[Message], stats: WorkerStats,
            keep_latency: bool = False) -> None:  # fmt: skip
    """Apply one delivery of messages, then acknowledge them."""
    columns: dict[str, list[Any]] = {}
    for m in messages:
        for name, values in m.columns.items():
            columns.setdefault(name, []).extend(values)
    stats.applied += service.apply_columns(columns)
    bus.ack(messages)
    stats.messages += len(messages)
    stats.events += len(columns.get("event_id", ()))
    if keep_latency:
        now = time.time() * 1000
        for m in messages:
            stats.latencies_ms.extend([now - m.published_ms] * m.size)
            stats.published_ms.extend([m.published_ms] * m.size)


@dataclass
class WorkerOptions:
    """How a worker runs: batch size, read block, limits and the backoff of its retries."""

    batch: int = 100
    block_ms: int = 50
    #: stop after this many events (benchmarks and tests).
    max_events: int | None = None
    keep_latency: bool = False
    #: first and longest pause before a retry after a failure (the pause doubles).
    retry_min_s: float = 0.2
    retry_max_s: float = 30.0
    #: how often gauges are refreshed and the outbox is asked to publish what it owes.
    report_s: float = 1.0


def run_worker(
    service: ProfileService,
    bus: EventBus,
    consumer: str,
    *,
    stop: threading.Event | None = None,
    on_batch: Callable[[WorkerStats], None] | None = None,
    health: WorkerHealth | None = None,
    outbox: Outbox | None = None,
    options: WorkerOptions | None = None,
    **overrides: Any,
) -> WorkerStats:
    """Consume until ``stop`` is set (or ``max_events`` were processed); return statistics.

    Any failure (Redis or the store unreachable, a read timeout, a group lost with a
    restarted Redis) is survived: the delivery is not acknowledged, the worker reports
    itself down (`WorkerHealth`: log line and gauges), waits (``retry_min_s`` doubling up
    to ``retry_max_s``), checks its groups again and re-reads its pending entries; idempotent
    apply makes the retry safe. Every ``report_s`` it refreshes its gauges and has the
    ``outbox`` publish events stored while publishing failed. ``overrides`` set fields of
    `WorkerOptions`.
    """
    opts = dataclasses.replace(options or WorkerOptions(), **overrides)
    stop = stop or threading.Event()
    health = health or WorkerHealth(consumer)
    stats = WorkerStats()
    failed, reported = 0, 0.0
    while not stop.is_set():
        try:
            messages = bus.consume(consumer, count=opts.batch, block_ms=opts.block_ms)
            if messages:
                process(service, bus, messages, stats, opts.keep_latency)
        except Exception as exc:  # Redis, the store, a timeout: keep everything, retry
            failed += 1
            stats.failures += 1
            pause = min(opts.retry_max_s, opts.retry_min_s * 2 ** (failed - 1))
            health.failed(exc, pause)
            bus.redeliver()
            stop.wait(pause)
            continue
        if failed:
            health.recovered(failed)
            failed = 0
        if time.monotonic() - reported >= opts.report_s:
            reported = time.monotonic()
            health.report(bus, outbox, stats)
        if messages and on_batch is not None:
            on_batch(stats)
        if opts.max_events is not None and stats.events >= opts.max_events:
            break
    return stats


class WorkerHealth:
    """A worker's state for operators: one log line per change (down with the reason, back
    up after how many failures) and Prometheus gauges in their own registry.

    Gauges: ``tastemaker_worker_up`` (1 reading and writing, 0 in an outage),
    ``tastemaker_worker_lag_entries`` (stream entries of the owned partitions not yet
    delivered), ``tastemaker_worker_pending_entries`` (delivered, not acknowledged),
    ``tastemaker_worker_unpublished_events`` (stored events the outbox has not published),
    ``tastemaker_worker_retry_seconds`` (pause before the next retry); counters
    ``tastemaker_worker_events_total`` and ``tastemaker_worker_failures_total``.
    """

    def __init__(self, consumer: str, registry: CollectorRegistry | None = None) -> None:
        self.consumer = consumer
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.up = Gauge("tastemaker_worker_up", "1 while the worker reads and writes", registry=r)
        self.lag = Gauge("tastemaker_worker_lag_entries", "Stream entries not yet delivered",
                         registry=r)  # fmt: skip
        self.pending = Gauge("tastemaker_worker_pending_entries", "Entries not acknowledged",
                             registry=r)  # fmt: skip
        self.unpublished = Gauge("tastemaker_worker_unpublished_events",
                                 "Stored events not published yet", registry=r)  # fmt: skip
        self.retry = Gauge("tastemaker_worker_retry_seconds", "Pause before the next retry",
                           registry=r)  # fmt: skip
        self.events = Counter("tastemaker_worker_events", "Events applied", registry=r)
        self.failures = Counter("tastemaker_worker_failures", "Failed deliveries", registry=r)
        self.is_up = True
        self.up.set(1)
        self._events = 0

    def failed(self, exc: BaseException, pause: float) -> None:
        """A read or a batch failed: down (logged once per outage), retry after ``pause``."""
        self.failures.inc()
        self.retry.set(pause)
        if self.is_up:
            log.warning("worker %s down: %s: %s (retrying, backoff up to the cap)",
                        self.consumer, type(exc).__name__, exc)  # fmt: skip
        else:
            log.debug("worker %s still down: %s", self.consumer, exc)
        self.is_up = False
        self.up.set(0)

    def recovered(self, failures: int) -> None:
        """The first delivery after an outage went through."""
        log.warning("worker %s up again after %d failed attempts", self.consumer, failures)
        self.is_up = True
        self.up.set(1)
        self.retry.set(0)

    def report(self, bus: EventBus, outbox: Outbox | None, stats: WorkerStats) -> None:
        """Refresh the gauges; have the outbox publish what it owes (failures are logged,
        the next report tries again)."""
        self.events.inc(stats.events - self._events)
        self._events = stats.events
        try:
            self.lag.set(bus.lag())
            self.pending.set(bus.pending())
            if outbox is not None:
                unpublished = outbox.pending()
                if unpublished:
                    outbox.publish_pending()
                    unpublished = outbox.pending()
                self.unpublished.set(unpublished)
        except Exception as exc:  # the next consume reports the outage
            log.debug("worker %s: gauges not refreshed: %s", self.consumer, exc)


class StatsRecorder:
    """Records segment sizes (for `tastemaker segments stats`) at most once per interval."""

    def __init__(
        self,
        service: ProfileService,
        interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service = service
        self.interval_s = interval_s
        self.clock = clock
        self._last: float | None = None

    def maybe_record(self) -> bool:
        """Record the sizes when the interval has passed since the last record (or never)."""
        if self.interval_s <= 0:
            return False
        now = self.clock()
        if self._last is not None and now - self._last < self.interval_s:
            return False
        self.service.record_stats()
        self._last = now
        return True
