"""The in-process event bus: routing by user, pending until acknowledged."""

from __future__ import annotations

import polars as pl

from tastemaker.storage.bus import InProcessBus, split_by_partition


def _events(users: list[str | None], anons: list[str | None] | None = None) -> pl.DataFrame:
    n = len(users)
    return pl.DataFrame({
        "event_id": [f"e{i}" for i in range(n)], "user_id": users,
        "anonymous_id": anons or [None] * n, "type": ["view"] * n,
        "item_id": ["i"] * n, "timestamp": list(range(n)),
    }, schema_overrides={"user_id": pl.String, "anonymous_id": pl.String})  # fmt: skip


def test_one_user_lands_in_one_partition_and_keeps_its_order() -> None:
    parts = split_by_partition(
        _events(["a", "b", "a", None, "a"], [None, None, None, "v", None]), 4
    )
    assert sum(len(c["event_id"]) for c in parts.values()) == 5
    holder = next(p for p, c in parts.items() if "e0" in c["event_id"])
    assert [e for e in parts[holder]["event_id"] if e in ("e0", "e2", "e4")] == ["e0", "e2", "e4"]
    assert all(set(c) >= {"session_id", "context", "value"} for c in parts.values())


def test_messages_are_redelivered_until_acknowledged() -> None:
    bus = InProcessBus(partitions=2)
    bus.publish(_events(["a", "b", "c"]))
    first = bus.consume("w", count=10)
    assert sum(m.size for m in first) == 3
    again = bus.consume("w", count=10)  # nothing acknowledged: delivered again
    assert sorted(m.id for m in again) == sorted(m.id for m in first)
    bus.ack(again)
    assert bus.consume("w", count=10) == []
    assert again[0].events.schema["timestamp"] == pl.Int64


def test_a_failed_batch_is_retried_and_applied_once() -> None:
    import threading

    from tastemaker.profiles.worker import run_worker

    class Flaky:
        """Fails on the first call, then records what it applied."""

        def __init__(self) -> None:
            self.calls = 0
            self.applied: list[str] = []

        def apply_columns(self, cols: dict[str, list[object]]) -> int:
            self.calls += 1
            if self.calls == 1:
                raise ConnectionError("store down")
            self.applied += [str(e) for e in cols["event_id"]]
            return len(cols["event_id"])

    bus = InProcessBus(partitions=2)
    bus.publish(_events(["a", "b", "c"]))
    service = Flaky()
    stats = run_worker(service, bus, "w", stop=threading.Event(), max_events=3,  # type: ignore[arg-type]
                       retry_max_s=0.01)  # fmt: skip
    assert stats.failures == 1 and stats.events == 3
    assert sorted(service.applied) == ["e0", "e1", "e2"]
    assert bus.consume("w") == []


def test_a_read_timeout_is_survived_reported_and_followed_by_a_catch_up() -> None:
    """Issue #12 point 3: `consume` failing (a Redis read timeout) does not end the worker."""
    import threading

    from tastemaker.profiles.worker import WorkerHealth, run_worker

    class Outage(InProcessBus):
        """Reads time out twice, as Redis does while it is away, then work again."""

        def __init__(self) -> None:
            super().__init__(partitions=2)
            self.timeouts = 2
            self.redelivered = 0

        def consume(self, consumer: str, *, count: int = 100, block_ms: int = 100) -> list:  # type: ignore[type-arg]
            if self.timeouts:
                self.timeouts -= 1
                raise TimeoutError("Timeout reading from 127.0.0.1:6379")
            return super().consume(consumer, count=count, block_ms=block_ms)

        def redeliver(self) -> None:
            self.redelivered += 1

    class Service:
        def __init__(self) -> None:
            self.applied: list[str] = []

        def apply_columns(self, cols: dict[str, list[object]]) -> int:
            self.applied += [str(e) for e in cols["event_id"]]
            return len(cols["event_id"])

    class Health(WorkerHealth):
        """Records whether the worker counted as up at each failure."""

        def __init__(self) -> None:
            super().__init__("w")
            self.up_at_failures: list[bool] = []

        def failed(self, exc: BaseException, pause: float) -> None:
            self.up_at_failures.append(self.is_up)
            super().failed(exc, pause)

    bus, service, health = Outage(), Service(), Health()
    bus.publish(_events(["a", "b", "c"]))
    stats = run_worker(service, bus, "w", stop=threading.Event(), max_events=3,  # type: ignore[arg-type]
                       health=health, retry_min_s=0.001, retry_max_s=0.002)  # fmt: skip
    assert stats.failures == 2 and bus.redelivered == 2
    assert sorted(service.applied) == ["e0", "e1", "e2"]  # caught up after the outage
    assert health.registry.get_sample_value("tastemaker_worker_up") == 1.0
    assert health.registry.get_sample_value("tastemaker_worker_failures_total") == 2.0
    assert health.registry.get_sample_value("tastemaker_worker_retry_seconds") == 0.0
    assert health.up_at_failures == [True, False]  # down at the first failure, still at the 2nd
