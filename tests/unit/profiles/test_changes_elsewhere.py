"""Another process changes what applying events depends on, just before this one applies.

Rules, consent, the retention cut, identity links and forgotten users are kept per process
(checked every second or every ``privacy.consent_refresh_seconds``). Whatever another
process did a moment before, the profiles this process writes afterwards equal what a
rebuild from the log gives. Two `Workspace` objects on one SQLite folder stand for two
processes; this one (the fixture, a server) has just read rules and consent.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import orjson
import polars as pl
import pytest
from profile_helpers import ITEMS, T0, events, views

from tastemaker.privacy.consent import set_consent
from tastemaker.privacy.forget import forget_user
from tastemaker.privacy.retention import apply_retention
from tastemaker.profiles.maintenance import WATERMARK
from tastemaker.storage import sql as sql_store
from tastemaker.storage.follower import holding
from tastemaker.workspace import Workspace

STRICT = "segments:\n  electric: {attribute: fuel_type, value: electric, min_share: 0.8}\n"
LOOSE_EXIT = (
    "segments:\n  electric: {attribute: fuel_type, value: electric, min_share: 0.9, "
    "exit_share: 0.3}\n"
)


@pytest.fixture
def ws(sqlite_workspace: Workspace) -> Workspace:
    """A server that has just read the rules and the consent list (checked once a minute
    here: the test runs within the check intervals) and applied a first user's events."""
    sqlite_workspace.ingestor.ingest_items(ITEMS, "test")
    sqlite_workspace.profiles.rules.check_every = 60.0
    sqlite_workspace.profiles.consent.refresh_seconds = 60.0
    sqlite_workspace.ingestor.ingest_events(views("ann", ["ev_suv1"], prefix="ann"), "t")
    return sqlite_workspace


@pytest.fixture
def other(ws: Workspace) -> Iterator[Workspace]:
    """Another process on the same workspace (a CLI command, a second server)."""
    opened = Workspace.open(ws.root)
    yield opened
    opened.close()


def _stored(ws: Workspace) -> dict[str, object]:
    """Stored profiles, affinities rounded (float sums may differ in the last bits)."""
    out: dict[str, object] = {}
    for key, row in ws.store.load_profiles().items():
        state = orjson.loads(row.state)
        state["aff"] = [{k: round(v, 9) for k, v in t.items()} for t in state["aff"]]
        out[key] = state
    return out


def _rebuilt(ws: Workspace) -> dict[str, object]:
    """What `tastemaker profiles rebuild` (a fresh process) leaves."""
    fresh = Workspace.open(ws.root)
    try:
        fresh.profiles.rebuild()
        return _stored(fresh)
    finally:
        fresh.close()


def _key(ws: Workspace, raw: str) -> str:
    return ws.pseudonymizer.one(raw)


def test_events_right_after_segments_apply_elsewhere_use_the_new_rules(
    ws: Workspace, other: Workspace
) -> None:
    # `tastemaker segments apply strict.yaml`: a new version, every profile re-evaluated
    other.profiles.rules.apply_text(STRICT, "strict.yaml")
    other.profiles.reevaluate_all()
    # two electric views of three: a member by the old rules (0.5), not by the new (0.8)
    ws.ingestor.ingest_events(views("uma", ["ev_suv1", "ev_suv2", "d_sedan"], prefix="u"), "t")
    state = ws.profiles.state(_key(ws, "uma"))
    assert state is not None and state.segments == {}
    assert _stored(ws) == _rebuilt(ws)


def test_a_rebuild_right_after_an_opt_out_elsewhere_builds_no_profile_for_them(
    ws: Workspace, other: Workspace
) -> None:
    ws.ingestor.ingest_events(views("uma", ["ev_suv1", "ev_suv2", "d_sedan"], prefix="u"), "t")
    set_consent(other, "uma", False)  # PUT /v1/users/uma/consent on another server
    ws.profiles.rebuild()  # e.g. the worker's retention job, in its long-lived workspace
    assert _key(ws, "uma") not in ws.store.load_profiles()
    assert _stored(ws) == _rebuilt(ws)


def test_an_event_before_a_new_retention_cut_builds_no_profile(
    ws: Workspace, other: Workspace
) -> None:
    other.settings.privacy.retention_days = 30
    # the worker's retention job: nothing is that old yet, but the cut (T0 - 10 days) is set
    receipt = apply_retention(other, now=(T0 + timedelta(days=20)).timestamp())
    assert receipt.deleted == {}
    # late (backfilled) events from before the cut reach the server at once
    old = views("vic", ["ev_suv1", "ev_suv2", "d_sedan"], start=T0 - timedelta(days=15), prefix="v")
    ws.ingestor.ingest_events(old, "t")
    assert _key(ws, "vic") not in ws.store.load_profiles()
    assert _stored(ws) == _rebuilt(ws)


def test_a_forgotten_users_events_waiting_for_the_lease_build_no_profile(
    ws: Workspace, other: Workspace
) -> None:
    # the other process is applying events (it holds the lease) when the server stores
    # the user's events: they wait, kept in memory for the follower; then the user is
    # forgotten (DELETE /v1/users/uma on the other process) before the lease comes free
    with holding(other.store, WATERMARK, 30_000):
        ws.ingestor.ingest_events(views("uma", ["ev_suv1", "ev_suv2", "ev_hatch"],
                                        prefix="u"), "t")  # fmt: skip
        assert forget_user(other, "uma").deleted["store:events"] == 3
    assert ws.profiles.flush(timeout=30)
    assert _key(ws, "uma") not in ws.store.load_profiles()
    assert _stored(ws) == _rebuilt(ws)


def test_an_opt_out_elsewhere_drops_the_next_events_at_once(
    ws: Workspace, other: Workspace
) -> None:
    """Sound: the opt-out moves the watermark's version, so this process re-reads consent
    before it applies anything else."""
    ws.ingestor.ingest_events(views("uma", ["ev_suv1"], prefix="u"), "t")
    set_consent(other, "uma", False)
    ws.ingestor.ingest_events(views("uma", ["ev_suv2", "d_sedan"], start=T0 + timedelta(hours=1),
                                    prefix="w"), "t")  # fmt: skip
    assert _key(ws, "uma") not in ws.store.load_profiles()
    assert _stored(ws) == _rebuilt(ws)


def test_a_link_learned_elsewhere_routes_the_visitors_next_events_to_the_user(
    ws: Workspace, other: Workspace
) -> None:
    """Sound: links are written with the profiles that learned them, under the lease, so
    this process forgets the links it kept before it applies anything else."""
    ws.ingestor.ingest_events(views("", ["ev_suv1"], anonymous="dev", prefix="a"), "t")
    identify = events([("wes", "identify", None)], start=T0 + timedelta(minutes=5),
                      anonymous="dev", prefix="i")  # fmt: skip
    other.ingestor.ingest_events(identify, "t")
    later = views("", ["ev_suv2", "d_sedan"], anonymous="dev", start=T0 + timedelta(minutes=6),
                  prefix="z")  # fmt: skip
    ws.ingestor.ingest_events(later, "t")
    profile = ws.profiles.get(_key(ws, "wes"))
    assert profile is not None and profile.counts["fuel_type"] == {"electric": 2, "diesel": 1}
    assert _stored(ws) == _rebuilt(ws)


def test_events_right_after_an_opt_in_elsewhere_build_the_profile(
    ws: Workspace, other: Workspace
) -> None:
    set_consent(other, "uma", False)
    ws.ingestor.ingest_events(views("bo", ["d_sedan"], prefix="b"), "t")  # sees the opt-out
    set_consent(other, "uma", True)  # back in: new events build a new profile
    ws.ingestor.ingest_events(views("uma", ["ev_suv1", "ev_suv2", "d_sedan"], prefix="u"), "t")
    assert _key(ws, "uma") in ws.store.load_profiles()
    assert _stored(ws) == _rebuilt(ws)


@pytest.mark.parametrize("how", ["put", "patch"])
def test_a_users_file_that_opts_someone_back_in_elsewhere_counts_their_next_events(
    ws: Workspace, other: Workspace, how: str
) -> None:
    """Consent sent with the user's row (`PUT` / `PATCH /v1/users`, a users file) moves the
    versions as the consent route does, both ways."""
    row = pl.DataFrame({"user_id": ["uma"], "consent": [False]})
    other.ingestor.ingest_users(row, "users.csv")  # out, by a users file elsewhere
    ws.ingestor.ingest_events(views("uma", ["ev_suv1"], prefix="x"), "t")  # dropped: out
    assert _key(ws, "uma") not in ws.store.load_profiles()
    back = row.with_columns(consent=pl.lit(True))
    if how == "put":
        other.ingestor.ingest_users(back, "users.csv")
    else:
        other.store.patch_rows("users", [{"user_id": _key(ws, "uma"), "consent": True}])
    ws.ingestor.ingest_events(views("uma", ["ev_suv1", "ev_suv2", "d_sedan"], prefix="u"), "t")
    assert _key(ws, "uma") in ws.store.load_profiles()


def test_segments_apply_leaves_the_members_of_a_rebuild(ws: Workspace, other: Workspace) -> None:
    # 3 electric views, then 5 others: a member at 1.0, out at 3/8 < 0.4 (default exit)
    items = ["ev_suv1", "ev_suv2", "ev_hatch", "d_sedan", "p_hatch", "d_suv", "d_sedan", "p_hatch"]
    ws.ingestor.ingest_events(views("uma", items, prefix="u"), "t")
    assert "electric" not in ws.profiles.state(_key(ws, "uma")).segments  # type: ignore[union-attr]
    # new rules: enter at 0.9, leave below 0.3; under them uma entered and never left
    other.profiles.rules.apply_text(LOOSE_EXIT, "loose.yaml")
    other.profiles.reevaluate_all()
    live = _stored(ws)
    rebuilt = _rebuilt(ws)
    assert rebuilt[_key(ws, "uma")]["seg"] == {"electric": 0.375}  # type: ignore[index]
    assert live == rebuilt


def test_an_item_uploaded_elsewhere_by_a_clock_a_second_behind_is_counted(
    ws: Workspace, other: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The catalog's fingerprint changes with every upload, whatever the uploader's clock
    (another host's, a second behind; or two uploads within one millisecond)."""
    behind = sql_store._now_ms() - 1_000
    monkeypatch.setattr(sql_store, "_now_ms", lambda: behind)
    other.ingestor.ingest_items(ITEMS.head(1).with_columns(item_id=pl.lit("ev_new")), "test")
    ws.ingestor.ingest_events(views("uma", ["ev_new", "ev_new", "d_sedan"], prefix="u"), "t")
    state = ws.profiles.state(_key(ws, "uma"))
    assert state is not None and dict(state.counts[0]) == {"electric": 2, "diesel": 1}
    assert _stored(ws) == _rebuilt(ws)


def test_a_forget_during_the_retention_rebuild_leaves_no_deleted_event_in_profiles(
    ws: Workspace, other: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The retention job's rebuild reads the log while the server forgets a user: the
    rebuild cannot write what it read (the forget moved the version), so it starts again
    instead of failing and leaving profiles built from the events retention deleted."""
    ws.ingestor.ingest_events(views("olga", ["ev_suv1", "ev_suv2", "ev_hatch"],
                                    start=T0 - timedelta(days=40), prefix="o"), "t")  # fmt: skip
    ws.ingestor.ingest_events(views("bo", ["d_sedan"], start=T0, prefix="b"), "t")
    assert _key(ws, "olga") in ws.store.load_profiles()
    read, forgotten = other.store.events, []

    def forget_first(*args: object, **kwargs: object) -> pl.DataFrame:
        if not forgotten:  # DELETE /v1/users/bo as the rebuild starts reading the log
            forgotten.append(forget_user(ws, "bo"))
        return read(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(other.store, "events", forget_first)
    other.settings.privacy.retention_days = 30
    receipt = apply_retention(other, now=T0.timestamp())  # olga's views are 40 days old
    assert forgotten and receipt.profiles_rebuilt == 1  # ann's profile (the fixture's)
    assert set(ws.store.load_profiles()) == {_key(ws, "ann")}
    assert _stored(ws) == _rebuilt(ws)
