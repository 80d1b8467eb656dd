"""The profile worker loop: consume events from the bus, apply them, then acknowledge.

Acknowledging only after the profiles are written (and applying idempotently) means a worker
killed at any point loses nothing and counts nothing twice once it is restarted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tastemaker.profiles.service import ProfileService
from tastemaker.storage.bus import EventBus, Message

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


def run_worker(
    service: ProfileService,
    bus: EventBus,
    consumer: str,
    *,
    stop: threading.Event | None = None,
    batch: int = 100,
    block_ms: int = 50,
    max_events: int | None = None,
    on_batch: Callable[[WorkerStats], None] | None = None,
    keep_latency: bool = False,
    retry_max_s: float = 30.0,
) -> WorkerStats:
    """Consume until ``stop`` is set (or ``max_events`` were processed); return statistics.

    A batch that fails (store or Redis unreachable) is not acknowledged: it is delivered
    again after a backoff (0.2 s doubling up to ``retry_max_s``); idempotent apply makes the
    retry safe.
    """
    stop = stop or threading.Event()
    stats = WorkerStats()
    failed = 0
    while not stop.is_set():
        messages = bus.consume(consumer, count=batch, block_ms=block_ms)
        if not messages:
            continue
        try:
            process(service, bus, messages, stats, keep_latency)
        except Exception:  # store or Redis hiccup: keep the messages, retry with backoff
            failed += 1
            stats.failures += 1
            log.exception("applying %d messages failed (attempt %d)", len(messages), failed)
            bus.redeliver()
            stop.wait(min(retry_max_s, 0.1 * 2**failed))
            continue
        failed = 0
        if on_batch is not None:
            on_batch(stats)
        if max_events is not None and stats.events >= max_events:
            break
    return stats


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
