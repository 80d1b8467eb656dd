"""Retention on SQLite: the cut, the dry run, the receipt, request logs, and profiles that
equal a rebuild from what is left of the log (also after new events arrive)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from tests.unit.profiles.profile_helpers import ITEMS, events, views

from tastemaker.privacy.logs import line_time_ms
from tastemaker.privacy.retention import apply_retention, cut_ms
from tastemaker.profiles.model import dumps_state
from tastemaker.storage.base import DeadLetter
from tastemaker.workspace import Workspace

NOW = datetime.now(UTC).replace(microsecond=0)
OLD, NEW = NOW - timedelta(days=40), NOW - timedelta(days=1)


@pytest.fixture
def ws(sqlite_workspace: Workspace) -> Workspace:
    """A workspace keeping 30 days: Ann acted 40 days ago and yesterday, Old Bob only 40
    days ago, Cy only yesterday."""
    ws = sqlite_workspace
    ws.settings.privacy.retention_days = 30
    ws.ingestor.ingest_items(ITEMS, "t")
    ws.ingestor.ingest_events(views("ann", ["ev_suv1", "ev_suv2", "d_sedan"], start=OLD,
                                    prefix="ao"), "t")  # fmt: skip
    ws.ingestor.ingest_events(views("bob", ["p_hatch"], start=OLD, prefix="bo"), "t")
    ws.ingestor.ingest_events(views("ann", ["h_suv"], start=NEW, prefix="an"), "t")
    ws.ingestor.ingest_events(views("cy", ["ev_hatch", "d_suv"], start=NEW, prefix="cn"), "t")
    ws.profiles.flush()
    return ws


def _stored(ws: Workspace) -> dict[str, str]:
    return {k: r.state for k, r in ws.store.load_profiles().items()}


def _replayed(ws: Workspace) -> dict[str, str]:
    states, _ = ws.profiles.simulate()
    return {k: dumps_state(s) for k, s in states.items()}


def test_the_cut_deletes_old_events_only_and_profiles_equal_a_rebuild(ws: Workspace) -> None:
    ann, bob = ws.pseudonymizer.one("ann"), ws.pseudonymizer.one("bob")
    before = _stored(ws)
    assert bob in before and ws.store.count_events() == 7

    receipt = apply_retention(ws)

    assert receipt.deleted == {"store:events": 4} and receipt.total == 4
    assert receipt.users_affected == 2 and receipt.profiles_rebuilt == 2
    left = ws.store.events()
    assert left.height == 3 and set(left["event_id"]) == {"an0", "cn0", "cn1"}
    after = _stored(ws)
    assert bob not in after and after[ann] != before[ann]  # the old views no longer count
    assert after == _replayed(ws)
    ws.ingestor.ingest_events(views("ann", ["ev_hatch"], start=NOW, prefix="later"), "t")
    ws.profiles.flush()
    assert _stored(ws) == _replayed(ws)  # the online path goes on from the rebuilt state
    assert apply_retention(ws).total == 0  # running it again is harmless


def test_a_dry_run_counts_and_deletes_nothing(ws: Workspace) -> None:
    before = _stored(ws)
    receipt = apply_retention(ws, dry_run=True)
    assert receipt.dry_run and receipt.deleted == {"store:events": 4}
    assert receipt.profiles_rebuilt is None and ws.store.count_events() == 7
    assert _stored(ws) == before
    assert not [e for e in ws.store.audit_entries() if e.action == "privacy.retention"]


def test_the_receipt_and_the_audit_row(ws: Workspace) -> None:
    receipt = apply_retention(ws, actor="worker:retention")
    out = receipt.to_dict()
    assert out["retention_days"] == 30 and out["total"] == 4 and not out["dry_run"]
    cut = datetime.fromisoformat(out["cut"])
    assert abs((NOW - timedelta(days=30) - cut).total_seconds()) < 3600
    rows = [e for e in ws.store.audit_entries() if e.action == "privacy.retention"]
    assert len(rows) == 1 and rows[0].actor == "worker:retention" and rows[0].outcome == "ok"
    assert orjson.loads(rows[0].detail)["deleted"] == {"store:events": 4}


def test_retention_off_keeps_everything(ws: Workspace) -> None:
    ws.settings.privacy.retention_days = None
    receipt = apply_retention(ws)
    assert receipt.cut is None and receipt.total == 0 and ws.store.count_events() == 7


def test_now_moves_the_cut(ws: Workspace) -> None:
    assert cut_ms(30, now=1_000_000.0) == 1_000_000_000 - 30 * 86_400_000
    later = time.time() + 35 * 86_400  # 35 days on: yesterday's events are 36 days old too
    assert apply_retention(ws, now=later, dry_run=True).deleted == {"store:events": 7}


def test_old_dead_letters_go(ws: Workspace) -> None:
    ws.store.add_dead_letters([DeadLetter("event", "t", 0, "type", "bad", "{}")])
    assert ws.store.delete_events_before(0, dry_run=True) == {"events": 0, "dead_letters": 0}
    soon = int(time.time() * 1000) + 60_000
    assert ws.store.delete_events_before(soon)["dead_letters"] == 1
    assert ws.store.dead_letters(include_replayed=True) == []


def test_shadow_log_lines_before_the_cut_go(ws: Workspace) -> None:
    reports = ws.settings.path(ws.settings.reports_dir)
    reports.mkdir(exist_ok=True)
    old_ms, new_ms = int(OLD.timestamp() * 1000), int(NEW.timestamp() * 1000)
    old_rid = f"{old_ms * 1000:013x}" + "ab" * 6  # how new_request_id encodes the time
    lines = [{"request_id": "x", "at": old_ms}, {"request_id": "y", "at": new_ms},
             {"request_id": old_rid}, {"no": "time"}]  # fmt: skip
    log = reports / "shadow-v2.jsonl"
    log.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    assert line_time_ms(orjson.dumps(lines[2])) == old_ms

    receipt = apply_retention(ws)

    assert receipt.deleted["file:reports/shadow-v2.jsonl"] == 2
    kept = [orjson.loads(x) for x in log.read_bytes().splitlines()]
    assert kept == [lines[1], lines[3]]


def test_visitors_events_count_as_theirs(ws: Workspace) -> None:
    old = events([(None, "view", "ev_suv1")], start=OLD, prefix="v", anonymous="cookie-1")
    ws.ingestor.ingest_events(old, "t")  # type: ignore[arg-type]
    ws.profiles.flush()
    visitor = "anon:" + ws.pseudonymizer.one("cookie-1")
    assert visitor in _stored(ws)
    receipt = apply_retention(ws)
    assert receipt.users_affected == 3 and visitor not in _stored(ws)


def test_a_run_that_failed_before_its_rebuild_is_made_good_by_the_next(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store went away after the old events were deleted: the profiles still count them
    until the next run, which has nothing left to delete but rebuilds all the same."""
    from tastemaker.errors import StoreUnavailableError

    def down() -> int:
        raise StoreUnavailableError("the store went away")

    with monkeypatch.context() as patched:
        patched.setattr(ws.profiles, "rebuild", down)
        with pytest.raises(StoreUnavailableError):
            apply_retention(ws)
    assert ws.store.count_events() == 3 and _stored(ws) != _replayed(ws)  # deleted, not rebuilt
    again = apply_retention(ws)
    assert again.total == 0 and again.profiles_rebuilt == 2
    assert _stored(ws) == _replayed(ws)
    assert apply_retention(ws).profiles_rebuilt is None  # made good: no rebuild owed any more
