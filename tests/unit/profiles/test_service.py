"""ProfileService: shares, segments with hysteresis, window, idempotency, stitching, rebuild."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import polars as pl
import pytest
from profile_helpers import ITEMS, T0, events, views

from tastemaker.profiles.model import dumps_state
from tastemaker.workspace import Workspace


@pytest.fixture
def ws(sqlite_workspace: Workspace) -> Workspace:
    sqlite_workspace.ingestor.ingest_items(ITEMS, "test")
    sqlite_workspace.profiles.rules.check_every = 0.0
    return sqlite_workspace


def _semantic(text: str) -> dict[str, object]:
    """A state with affinities rounded (float sums may differ in the last bits)."""
    state = orjson.loads(text)
    state["aff"] = [{k: round(v, 9) for k, v in t.items()} for t in state["aff"]]
    return state


def _key(ws: Workspace, raw: str) -> str:
    return ws.pseudonymizer.one(raw)


def test_browsing_electric_suvs_enters_electric_and_suv(ws: Workspace) -> None:
    ws.ingestor.ingest_events(views("ann", ["ev_suv1", "ev_suv2", "ev_suv1", "d_sedan"]), "t")
    profile = ws.profiles.get(_key(ws, "ann"))
    assert profile is not None
    assert profile.shares["fuel_type"] == {"electric": 0.75, "diesel": 0.25}
    assert profile.counts["body_type"] == {"suv": 3, "sedan": 1}
    # three of four views are electric SUVs priced 30,000+ (premium)
    assert profile.segments == {"electric": 0.75, "suv": 0.75, "green": 0.75,
                                "electric_suv": 0.75, "premium": 0.75}  # fmt: skip
    assert profile.traits["frequency"] == 4
    assert profile.traits["sessions"] == 1
    assert profile.traits["dwell_total"] == 40.0
    assert [e.item_id for e in profile.timeline] == ["ev_suv1", "ev_suv2", "ev_suv1", "d_sedan"]


def test_min_events_and_threshold_keep_a_single_view_out(ws: Workspace) -> None:
    ws.ingestor.ingest_events(views("bob", ["ev_suv1", "ev_suv2"]), "t")
    profile = ws.profiles.get(_key(ws, "bob"))
    assert profile is not None and profile.segments == {}  # 2 events < min_events 3


def test_hysteresis_keeps_a_member_until_the_exit_threshold(ws: Workspace) -> None:
    key = _key(ws, "cy")
    ws.ingestor.ingest_events(views("cy", ["ev_suv1", "ev_suv2", "ev_hatch", "d_sedan"]), "t")
    assert "electric" in ws.profiles.get(key).segments  # type: ignore[union-attr]
    # 3 electric of 7 = 0.43: below entry (0.5), above exit (0.4) -> stays a member
    later = T0 + timedelta(hours=1)
    ws.ingestor.ingest_events(views("cy", ["d_sedan", "p_hatch", "d_suv"], start=later,
                                    prefix="f"), "t")  # fmt: skip
    assert ws.profiles.get(key).segments.get("electric") == pytest.approx(3 / 7, abs=1e-6)  # type: ignore[union-attr]
    # one more non-electric view: 3 of 8 = 0.375 < exit -> leaves
    ws.ingestor.ingest_events(views("cy", ["p_hatch"], start=later + timedelta(hours=1),
                                    prefix="g"), "t")  # fmt: skip
    assert "electric" not in ws.profiles.get(key).segments  # type: ignore[union-attr]


def test_a_newcomer_at_the_same_share_does_not_enter(ws: Workspace) -> None:
    # ends at the member's 3 of 7, but the share never reached the entry threshold
    items = ["d_sedan", "d_sedan", "p_hatch", "d_suv", "ev_suv1", "ev_suv2", "ev_hatch"]
    ws.ingestor.ingest_events(views("dee", items), "t")
    assert "electric" not in ws.profiles.get(_key(ws, "dee")).segments  # type: ignore[union-attr]


def test_redelivered_events_change_nothing(ws: Workspace) -> None:
    batch = views("eve", ["ev_suv1", "ev_suv2", "d_sedan", "ev_hatch"])
    ws.ingestor.ingest_events(batch, "t")
    key = _key(ws, "eve")
    before = dumps_state(ws.profiles.state(key))  # type: ignore[arg-type]
    stored = ws.store.events().drop("seq")
    assert ws.profiles.apply(stored.with_columns(pl.col("timestamp").dt.epoch("ms"))) == 0
    assert ws.profiles.apply(stored) == 0
    assert dumps_state(ws.profiles.state(key)) == before  # type: ignore[arg-type]


def test_events_leave_the_window_after_ten_days(ws: Workspace) -> None:
    key = _key(ws, "fay")
    ws.ingestor.ingest_events(views("fay", ["ev_suv1", "ev_suv2", "ev_hatch"]), "t")
    assert "electric" in ws.profiles.get(key).segments  # type: ignore[union-attr]
    late = T0 + timedelta(days=11)
    ws.ingestor.ingest_events(views("fay", ["d_sedan", "d_suv", "d_sedan"], start=late,
                                    prefix="late"), "t")  # fmt: skip
    profile = ws.profiles.get(key)
    assert profile is not None
    assert profile.counts["fuel_type"] == {"diesel": 3}
    assert set(profile.segments) >= {"diesel"} and "electric" not in profile.segments
    # an event from before the window arriving now is ignored
    ws.ingestor.ingest_events(views("fay", ["ev_suv1"], prefix="old"), "t")
    assert ws.profiles.get(key).counts["fuel_type"] == {"diesel": 3}  # type: ignore[union-attr]


def test_affinities_decay_with_the_half_life(ws: Workspace) -> None:
    half_life = timedelta(days=ws.settings.profiles.half_life_days)
    rows = [("gus", "view", "ev_suv1"), ("gus", "view", "d_sedan")]
    ws.ingestor.ingest_events(events(rows, step=half_life), "t")
    aff = ws.profiles.get(_key(ws, "gus")).affinities["fuel_type"]  # type: ignore[union-attr]
    assert aff["diesel"] == pytest.approx(1.0)
    assert aff["electric"] == pytest.approx(0.5)


def test_identify_stitches_the_anonymous_profile_without_double_counting(ws: Workspace) -> None:
    anon = views("", ["ev_suv1", "ev_suv2"], anonymous="dev-1", prefix="a")
    ws.ingestor.ingest_events(anon, "t")
    anon_key = "anon:" + _key(ws, "dev-1")
    assert ws.profiles.get(anon_key).counts["fuel_type"] == {"electric": 2}  # type: ignore[union-attr]
    identify = events([("hal", "identify", None)], start=T0 + timedelta(minutes=5),
                      anonymous="dev-1", prefix="id")  # fmt: skip
    ws.ingestor.ingest_events(identify, "t")
    ws.ingestor.ingest_events(views("hal", ["ev_hatch"], start=T0 + timedelta(minutes=6),
                                    prefix="h"), "t")  # fmt: skip
    user = ws.profiles.get(_key(ws, "hal"))
    assert user is not None
    assert user.counts["fuel_type"] == {"electric": 3}
    assert "electric" in user.segments
    assert user.merged_ids == [_key(ws, "dev-1")]
    assert ws.profiles.get(anon_key) is None
    # redelivery of everything (anonymous events, identify) counts nothing twice
    ws.profiles.apply(ws.store.events().drop("seq"))
    assert ws.profiles.get(_key(ws, "hal")).counts["fuel_type"] == {"electric": 3}  # type: ignore[union-attr]
    # later anonymous-only events of the same device go to the user
    later = views("", ["ev_suv1"], anonymous="dev-1", start=T0 + timedelta(minutes=9), prefix="z")
    ws.ingestor.ingest_events(later, "t")
    assert ws.profiles.get(_key(ws, "hal")).counts["fuel_type"] == {"electric": 4}  # type: ignore[union-attr]


def test_rebuild_reproduces_the_online_profiles(ws: Workspace) -> None:
    ws.ingestor.ingest_events(views("ian", ["ev_suv1", "d_suv", "ev_suv2", "h_suv"]), "t")
    ws.ingestor.ingest_events(views("jo", ["p_hatch", "ev_hatch", "p_hatch"], prefix="j"), "t")
    online = {k: dumps_state(ws.profiles.state(k)) for k in ws.store.load_profiles()}  # type: ignore[arg-type]
    assert ws.profiles.rebuild() == 2
    rebuilt = {k: r.state for k, r in ws.store.load_profiles().items()}
    assert rebuilt == online


def test_rule_change_is_followed_without_restart_and_rolls_back(ws: Workspace) -> None:
    key = _key(ws, "kim")
    ws.ingestor.ingest_events(views("kim", ["ev_suv1", "ev_suv2", "d_sedan", "p_hatch"]), "t")
    assert "electric" in ws.profiles.get(key).segments  # type: ignore[union-attr]
    stricter = "segments:\n  electric: {attribute: fuel_type, value: electric, min_share: 0.6}\n"
    other = Workspace.open(ws.root)  # another process's view of the same workspace
    try:
        version = other.profiles.rules.apply_text(stricter, "strict.yaml")
        assert version == 2
        assert ws.profiles.get(key).segments == {}  # type: ignore[union-attr]
        assert ws.profiles.segments(key) == {}  # the light read path agrees
        assert ws.profiles.segments("nobody") is None
        assert ws.profiles.rules.rollback() == 1
        assert "electric" in ws.profiles.segments(key)  # type: ignore[operator]
        assert "electric" in ws.profiles.get(key).segments  # type: ignore[union-attr]
    finally:
        other.close()


def test_a_bad_rules_file_is_refused_and_the_running_version_stays(ws: Workspace) -> None:
    from tastemaker.errors import ValidationFailedError

    active = ws.profiles.rules.active_version()
    with pytest.raises(ValidationFailedError, match="line 2"):
        ws.profiles.rules.apply_text("segments:\n  x: {attribute: fuel_type}\n")
    assert ws.profiles.rules.active_version() == active
    assert len(ws.store.segment_versions()) == 1


def test_segment_sizes_and_recorded_stats(ws: Workspace) -> None:
    ws.ingestor.ingest_events(views("lu", ["ev_suv1", "ev_suv2", "h_suv"]), "t")
    ws.ingestor.ingest_events(views("mo", ["d_suv", "d_suv", "d_sedan"], prefix="m"), "t")
    sizes = ws.profiles.record_stats()
    assert sizes["suv"] == 2 and sizes["electric"] == 1 and sizes["diesel"] == 1
    history = ws.store.segment_stats()
    assert history.filter(pl.col("segment") == "suv")["members"].to_list() == [2]


def test_batching_does_not_change_the_outcome(ws: Workspace) -> None:
    raw = views("nia", ["ev_suv1", "ev_suv2", "ev_hatch", "d_sedan", "d_suv", "p_hatch", "d_suv"])
    ws.ingestor.listeners.clear()  # store only; apply below by hand
    ws.ingestor.ingest_events(raw, "t")
    stored = ws.store.events().drop("seq")
    key = _key(ws, "nia")
    ws.profiles.apply(stored)
    whole = ws.profiles.state(key)
    ws.profiles.rebuild()  # clears everything
    ws.store.clear_profiles()
    fresh = type(ws.profiles)(ws.settings, ws.store)
    for i in range(stored.height):
        fresh.apply(stored.slice(i, 1))
    one_by_one = fresh.state(key)
    assert whole is not None and one_by_one is not None
    assert one_by_one.segments == whole.segments and one_by_one.counts == whole.counts
    assert one_by_one.affinities[0] == pytest.approx(whole.affinities[0])


def test_stitching_within_one_batch_equals_stitching_across_batches(ws: Workspace) -> None:
    anon = views("", ["ev_suv1", "ev_suv2", "d_sedan"], anonymous="dev-9", prefix="a")
    ident = events([("oz", "identify", None)], start=T0 + timedelta(minutes=5),
                   anonymous="dev-9", prefix="i")  # fmt: skip
    own = views("oz", ["ev_hatch", "d_suv"], start=T0 + timedelta(minutes=6), prefix="o")
    after = views("", ["h_suv"], anonymous="dev-9", start=T0 + timedelta(minutes=8), prefix="z")
    ws.ingestor.listeners.clear()
    for frame in (anon, ident, own, after):
        ws.ingestor.ingest_events(frame, "t")
    stored = ws.store.events().drop("seq")
    key = _key(ws, "oz")
    one = type(ws.profiles)(ws.settings, ws.store)
    one.apply(stored)
    whole = _semantic(dumps_state(one.state(key)))  # type: ignore[arg-type]
    ws.store.clear_profiles()
    split = type(ws.profiles)(ws.settings, ws.store)
    for start in range(stored.height):
        split.apply(stored.slice(start, 1))
    assert _semantic(dumps_state(split.state(key))) == whole  # type: ignore[arg-type]
    assert split.get(key).counts["fuel_type"] == {"electric": 3, "diesel": 2, "hybrid": 1}  # type: ignore[union-attr]
    assert ws.store.load_profiles(["anon:" + _key(ws, "dev-9")]) == {}


def test_a_failed_write_leaves_nothing_half_applied(ws: Workspace) -> None:
    raw = views("pia", ["ev_suv1", "ev_suv2", "ev_hatch"])
    ws.ingestor.listeners.clear()
    ws.ingestor.ingest_events(raw, "t")
    stored = ws.store.events().drop("seq")
    original = ws.store.save_profiles

    def broken(*args: object, **kwargs: object) -> None:
        raise ConnectionError("database went away")

    ws.store.save_profiles = broken  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        ws.profiles.apply(stored)
    ws.store.save_profiles = original  # type: ignore[method-assign]
    assert ws.profiles.apply(stored) == 3  # the retry applies for real
    assert "electric" in ws.profiles.get(_key(ws, "pia")).segments  # type: ignore[union-attr]


def test_a_batch_of_impressions_only_touches_no_profile_and_no_store(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[object] = []
    save = ws.store.save_profiles

    def counted(*args: Any, **kwargs: Any) -> Any:
        writes.append(args)
        return save(*args, **kwargs)  # the real write: its lease moves the watermark

    monkeypatch.setattr(ws.store, "save_profiles", counted)
    shown = events([("carol", "impression", "ev_suv1"), ("carol", "impression", "ev_suv2")])
    assert ws.ingestor.ingest_events(shown, "test").accepted == 2
    assert writes == []
    assert ws.profiles.get(_key(ws, "carol")) is None
    ws.ingestor.ingest_events(views("carol", ["ev_suv1"], prefix="v"), "test")
    assert len(writes) == 1
    assert ws.profiles.get(_key(ws, "carol")) is not None


def test_another_process_appending_to_the_workspace_loses_nothing(ws: Workspace) -> None:
    """Issue #12 point 1, read path: a process keeping profiles in memory sees another
    process's updates, and its own next update builds on them."""
    key = _key(ws, "quinn")
    ws.ingestor.ingest_events(views("quinn", ["ev_suv1", "ev_suv2", "ev_hatch"]), "t")
    assert "electric" in ws.profiles.segments(key)  # type: ignore[operator]
    other = Workspace.open(ws.root)  # e.g. `tastemaker import events` at the same time
    try:
        later = T0 + timedelta(hours=1)
        other.ingestor.ingest_events(views("quinn", ["d_sedan"] * 4, start=later, prefix="q"), "t")
    finally:
        other.close()
    ws.profiles.fresh_seconds = 0.0  # readers check the watermark's version at most this often
    assert ws.profiles.get(key).counts["fuel_type"] == {"electric": 3, "diesel": 4}  # type: ignore[union-attr]
    assert "diesel" in ws.profiles.segments(key)  # type: ignore[operator]
    ws.ingestor.ingest_events(views("quinn", ["p_hatch"], start=later + timedelta(hours=1),
                                    prefix="r"), "t")  # fmt: skip
    counts = {"electric": 3, "diesel": 4, "petrol": 1}
    assert ws.profiles.get(key).counts["fuel_type"] == counts  # type: ignore[union-attr]
    stored = ws.store.load_profiles([key])[key].state
    ws.profiles.rebuild()
    assert ws.store.load_profiles([key])[key].state == stored


def test_a_catalog_uploaded_just_before_the_events_is_counted(sqlite_workspace: Workspace) -> None:
    """A shop's first steps: the server read the (empty) catalog at start, then the catalog
    and the events arrive within a second: the profile counts the items' attributes, as a
    rebuild from the log does (the cache is re-checked when events name unknown items)."""
    ws = sqlite_workspace
    ws.profiles.rules.check_every = 0.0
    assert ws.profiles.catalog.attribute_map() == {}  # read before any item exists
    ws.ingestor.ingest_items(ITEMS, "test")
    ws.ingestor.ingest_events(views("dee", ["ev_suv1", "ev_suv2", "d_sedan"]), "t")
    key = _key(ws, "dee")
    online = ws.profiles.get(key)
    assert online is not None
    assert online.counts["fuel_type"] == {"electric": 2, "diesel": 1}
    ws.profiles.rebuild()
    assert ws.profiles.get(key).counts == online.counts  # type: ignore[union-attr]
