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
