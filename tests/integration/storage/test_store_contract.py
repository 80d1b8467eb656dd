"""One contract for every Store backend: SQLite and PostgreSQL pass the same tests."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from tastemaker.schema import EVENT_COLUMNS
from tastemaker.storage.base import DeadLetter
from tastemaker.storage.migrations import latest_version
from tastemaker.workspace import Workspace

T0 = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)


def _events(ids: list[str], user: str = "p_user", start: int = T0) -> pl.DataFrame:
    n = len(ids)
    return pl.DataFrame(
        {
            "event_id": ids,
            "user_id": [user] * n,
            "anonymous_id": [None] * n,
            "type": ["view"] * n,
            "item_id": [f"i{i}" for i in range(n)],
            "value": [1.5] * n,
            "timestamp": [start + 1000 * i for i in range(n)],
            "session_id": ["s1"] * n,
            "context": ['{"device": "mobile"}'] * n,
            "properties": ["{}"] * n,
        },
        schema_overrides={"anonymous_id": pl.String},
    ).select(EVENT_COLUMNS)


def test_schema_is_at_latest_version(workspace: Workspace) -> None:
    assert workspace.store.schema_version() == latest_version()
    assert workspace.store.migrate() == []  # idempotent


def test_append_is_idempotent_within_and_across_batches(workspace: Workspace) -> None:
    store = workspace.store
    first = store.append_events(_events(["a", "b", "a"]))
    assert (first.inserted, first.duplicates) == (2, 1)
    assert first.inserted_ids.to_list() == ["a", "b"]
    second = store.append_events(_events(["b", "c"]))
    assert (second.inserted, second.duplicates, second.inserted_ids.to_list()) == (1, 1, ["c"])
    assert store.count_events() == 3


def test_a_batch_refused_by_the_index_late_leaves_no_partial_rows(workspace: Workspace) -> None:
    # The whole batch is tried straight into the log first; a stored id near its end must
    # roll that attempt back entirely before the new rows are moved in.
    store = workspace.store
    store.append_events(_events(["z"]))
    result = store.append_events(_events(["x", "y", "z"]))
    assert (result.inserted, result.duplicates, result.inserted_ids.to_list()) == (2, 1, ["x", "y"])
    again = store.append_events(_events(["w"]))  # the direct path works after a fallback
    assert again.inserted_ids.to_list() == ["w"]
    assert sorted(store.events()["event_id"].to_list()) == ["w", "x", "y", "z"]
    assert store.append_events(_events(["x", "y"])).inserted == 0


def test_events_round_trip_with_filters(workspace: Workspace) -> None:
    store = workspace.store
    store.append_events(_events(["a", "b", "c"], user="u1"))
    store.append_events(_events(["d"], user="u2", start=T0 + 10_000))
    frame = store.events()
    assert frame["event_id"].to_list() == ["a", "b", "c", "d"]
    assert frame.schema["timestamp"] == pl.Datetime("ms", "UTC")
    assert frame["timestamp"][0] == datetime(2026, 1, 1, tzinfo=UTC)
    assert frame["context"][0] == '{"device": "mobile"}'
    assert store.events(user_ids=["u2"])["event_id"].to_list() == ["d"]
    window = store.events(
        start=datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC),
        end=datetime(2026, 1, 1, 0, 0, 3, tzinfo=UTC),
    )
    assert window["event_id"].to_list() == ["b", "c"]
    seq = frame["seq"][1]
    assert store.events(after_seq=seq)["event_id"].to_list() == ["c", "d"]


def test_items_upsert_replaces_and_expands_attributes(workspace: Workspace) -> None:
    store = workspace.store
    rows = pl.DataFrame(
        {
            "item_id": ["car1", "car2"],
            "category": ["car", "car"],
            "brand": ["volta", "dieselco"],
            "price": [30000.0, 12000.0],
            "title": ["EV", "Diesel"],
            "text": ["an electric suv", None],
            "in_stock": [True, False],
            "created_at": [T0, None],
            "attributes": [
                '{"fuel_type": "electric", "body_type": "suv"}',
                '{"fuel_type": "diesel"}',
            ],
        }
    )
    assert store.upsert_items(rows) == 2
    store.upsert_items(rows.head(1).with_columns(pl.lit(25000.0).alias("price")))
    items = store.items()
    assert items.height == 2
    car1 = items.filter(pl.col("item_id") == "car1").row(0, named=True)
    assert (
        car1["price"] == 25000.0 and car1["fuel_type"] == "electric" and car1["body_type"] == "suv"
    )
    assert items.filter(pl.col("item_id") == "car2")["body_type"].to_list() == [None]


def test_dead_letters_are_kept_once_and_replay_marks_them(workspace: Workspace) -> None:
    store = workspace.store
    letter = DeadLetter(
        kind="event", source="f.csv", row_index=3, field="type", reason="bad", payload="{}"
    )
    store.add_dead_letters([letter, letter])
    pending = store.dead_letters()
    assert len(pending) == 1 and pending[0].reason == "bad"
    store.mark_replayed([pending[0].id or 0], T0)
    assert store.dead_letters() == []
    assert len(store.dead_letters(include_replayed=True)) == 1


def test_identity_links_and_delete_user(workspace: Workspace) -> None:
    store = workspace.store
    store.link_identities([("anon1", "u1", T0)])
    store.link_identities([("anon1", "u2", T0)])  # an anonymous id keeps its first user
    assert store.identity_links() == {"anon1": "u1"}
    store.link_identities([("anon1", "u3", T0), ("anon2", "u2", T0), ("anon2", "u4", T0)])
    assert store.identity_links() == {"anon1": "u1", "anon2": "u2"}
    store.link_identities([("anon0", "u1", T0)])
    assert store.identity_links("u1") == {"anon0": "u1", "anon1": "u1"}
    assert store.identity_links("u9") == {}
    store.append_events(_events(["a", "b"], user="u1"))
    store.append_events(_events(["c"], user="u2"))
    deleted = store.delete_user("u1")
    assert deleted["events"] == 2 and deleted["identity_links"] == 2
    assert store.identity_links() == {"anon2": "u2"} and store.identity_links("u1") == {}
    assert store.events()["user_id"].to_list() == ["u2"]


def test_a_users_write_that_changes_consent_moves_every_watermark_version(
    workspace: Workspace,
) -> None:
    """Processes applying events re-read who opted out when the versions move: a users upsert
    or patch that changes someone's consent moves them, one that does not leaves them."""
    store = workspace.store

    def versions() -> tuple[int, int]:
        return store.watermark("profiles").version, store.watermark("published").version

    def user(consent: bool, city: str) -> pl.DataFrame:
        return pl.DataFrame(
            {"user_id": ["u1"], "consent": [consent], "attributes": [f'{{"city": "{city}"}}']}
        )

    store.upsert_users(user(True, "Oslo"))  # a new user who consents: nothing to re-read
    start = versions()
    store.upsert_users(user(True, "Bergen"))
    assert versions() == start
    store.upsert_users(user(False, "Bergen"))  # opts out by a users file
    out = versions()
    assert out[0] > start[0] and out[1] > start[1]
    store.patch_rows("users", [{"user_id": "u1", "attributes": {"city": "Oslo"}}])
    assert versions() == out and store.opted_out_users() == {"u1"}
    store.patch_rows("users", [{"user_id": "u1", "consent": True}])  # back in by a PATCH
    assert versions()[0] > out[0] and store.opted_out_users() == set()
