"""Opt-out on SQLite: an opted-out user's events build no profile, their profile goes at
once, another process sees the change within its refresh, and opting back in lets new
events build a profile again."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from tests.unit.profiles.profile_helpers import ITEMS, views

from tastemaker.errors import NotFoundError
from tastemaker.privacy.consent import get_consent, set_consent
from tastemaker.privacy.forget import subject_digest
from tastemaker.profiles.model import dumps_state
from tastemaker.workspace import Workspace

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


@pytest.fixture
def ws(sqlite_workspace: Workspace) -> Workspace:
    """Ann and Bob viewed cars an hour ago."""
    ws = sqlite_workspace
    ws.settings.privacy.consent_refresh_seconds = 0.1
    ws.profiles.consent.refresh_seconds = 0.1
    ws.ingestor.ingest_items(ITEMS, "t")
    ws.ingestor.ingest_events(views("ann", ["ev_suv1", "ev_suv2"], start=NOW, prefix="a"), "t")
    ws.ingestor.ingest_events(views("bob", ["d_sedan"], start=NOW, prefix="b"), "t")
    ws.profiles.flush()
    return ws


def _later(ws: Workspace, user: str, item: str, prefix: str) -> None:
    start = NOW + timedelta(minutes=30)
    ws.ingestor.ingest_events(views(user, [item], start=start, prefix=prefix), "t")
    ws.profiles.flush()


def test_an_opted_out_user_has_no_profile_and_builds_none(ws: Workspace) -> None:
    ann, bob = ws.pseudonymizer.one("ann"), ws.pseudonymizer.one("bob")
    assert ws.profiles.get(ann) is not None and get_consent_or_none(ws, "ann") is None

    receipt = set_consent(ws, "ann", False)

    assert receipt.subject == subject_digest(ann) and receipt.deleted == {"store:profiles": 1}
    assert not get_consent(ws, "ann") and ws.store.load_profiles([ann]) == {}
    assert ws.profiles.get(ann) is None
    signals = ws.profiles.signals(ann, 0)
    assert not signals.personal and not signals.found
    _later(ws, "ann", "h_suv", "a-late")
    _later(ws, "bob", "h_suv", "b-late")
    assert ws.store.load_profiles([ann]) == {}  # the events are kept, but build nothing
    assert ws.store.count_events() == 5 and ws.profiles.get(bob) is not None
    states, _ = ws.profiles.simulate()  # a rebuild agrees
    assert ann not in states and dumps_state(states[bob]) == ws.store.load_profiles()[bob].state
    rows = [e for e in ws.store.audit_entries() if e.action == "privacy.consent"]
    assert rows and "ann" not in rows[0].detail and ann not in rows[0].detail


def get_consent_or_none(ws: Workspace, user: str) -> bool | None:
    """The stored consent, or None when the user has no row."""
    try:
        return get_consent(ws, user)
    except NotFoundError:
        return None


def test_opting_back_in_builds_a_profile_from_new_events(ws: Workspace) -> None:
    ann = ws.pseudonymizer.one("ann")
    set_consent(ws, "ann", False)
    set_consent(ws, "ann", True)
    assert get_consent(ws, "ann") and ws.profiles.get(ann) is None
    _later(ws, "ann", "p_hatch", "a-back")
    profile = ws.profiles.get(ann)
    assert profile is not None
    assert [e["item_id"] for e in profile.to_dict()["timeline"]] == ["p_hatch"]


def test_another_process_sees_the_change_within_its_refresh(ws: Workspace) -> None:
    other = Workspace.open(ws.root)  # a second server process or stream worker
    try:
        other.profiles.consent.refresh_seconds = 0.1
        ann = ws.pseudonymizer.one("ann")
        seen: list[set[str]] = []
        other.profiles.consent.add_listener(seen.append)  # what drops cached lists
        assert not other.profiles.consent.opted_out(ann)
        set_consent(ws, "ann", False)
        deadline = time.monotonic() + 30
        while not seen and time.monotonic() < deadline:
            time.sleep(0.05)
        assert seen == [{ann}] and other.profiles.consent.opted_out(ann)
        assert other.profiles.get(ann) is None
        other.ingestor.ingest_events(views("ann", ["h_suv"], start=NOW, prefix="o"), "t")
        other.profiles.flush()
        assert ws.store.load_profiles([ann]) == {}
    finally:
        other.close()


def test_the_audit_detail_is_json(ws: Workspace) -> None:
    set_consent(ws, "bob", False, actor="cli:test")
    row = [e for e in ws.store.audit_entries() if e.action == "privacy.consent"][-1]
    assert row.actor == "cli:test" and orjson.loads(row.detail)["consent"] is False
