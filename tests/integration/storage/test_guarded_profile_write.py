"""`Store.save_profiles` with a `Guard` (a stream worker's write): refused, with nothing
written, once the ``profiles`` watermark moved or while its lease is held; on PostgreSQL it
waits for the WAL flush (the worker acknowledges the events to the bus after it)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from tastemaker.storage.base import LeaseLostError, ProfileRow
from tastemaker.storage.guard import Guard
from tastemaker.workspace import Workspace

ROW = ProfileRow("u1", "{}")


def test_a_guarded_write_needs_the_version_and_a_free_lease(workspace: Workspace) -> None:
    store = workspace.store
    mark = store.watermark("profiles")
    store.save_profiles([ROW], guard=Guard("profiles", mark.version))
    assert set(store.load_profiles()) == {"u1"}

    with pytest.raises(LeaseLostError):  # a rebuild or retention moved it since
        store.save_profiles([ProfileRow("u2", "{}")], guard=Guard("profiles", mark.version + 1))
    lease = store.take_lease("profiles", "rebuild", 30_000)
    assert lease.acquired
    with pytest.raises(LeaseLostError):  # a rebuild holds it
        store.save_profiles([ProfileRow("u3", "{}")], guard=Guard("profiles", mark.version))
    store.release_lease(lease)
    assert set(store.load_profiles()) == {"u1"}


@pytest.mark.integration
def test_only_unguarded_writes_skip_the_wal_flush(postgres_workspace: Workspace) -> None:
    store = postgres_workspace.store
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(str(args[2]))

    engine = store.engine  # type: ignore[attr-defined]
    event.listen(engine, "before_cursor_execute", record)
    try:
        store.save_profiles([ROW], guard=Guard("profiles", store.watermark("profiles").version))
        assert not any("synchronous_commit" in s for s in seen)
        store.save_profiles([ROW])
        assert any("synchronous_commit" in s for s in seen)
    finally:
        event.remove(engine, "before_cursor_execute", record)
