"""Hostile bodies (issue #12, points 5-8): each bad row is refused on its own, with field and
reason, kept as a bounded dead letter; limits answer 413 / 422 naming the setting."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from tastemaker.serving import create_app
from tastemaker.workspace import Workspace

EVENT = {"user_id": "alice", "type": "view", "item_id": "car1", "timestamp": "2026-01-01T10:00:00Z"}


def _event(event_id: str, **fields: Any) -> dict[str, Any]:
    return {**EVENT, "event_id": event_id, **fields}


def _nested(depth: int) -> bytes:
    """JSON text of an object nested ``depth`` levels deep (``{}`` is one level)."""
    return b'{"a": ' * (depth - 1) + b"{}" + b"}" * (depth - 1)


@pytest.fixture
def client(sqlite_workspace: Workspace) -> Iterator[TestClient]:
    with TestClient(create_app(sqlite_workspace), raise_server_exceptions=False) as c:
        yield c


def _refusals(answer: Any) -> dict[int, tuple[str, str]]:
    assert answer.status_code == 200, answer.text
    return {r["index"]: (r["field"], r["reason"]) for r in answer.json()["rejections"]}


# --- point 5: unbounded distinct keys ---------------------------------------------------------
def test_unknown_event_fields_refuse_their_row(
    client: TestClient, sqlite_workspace: Workspace
) -> None:
    """They used to be dropped silently, and 200 distinct keys per event made a column each."""
    rows = [_event("ok")]
    rows += [_event(f"wide{i}", **{f"k{i}_{j}": j for j in range(200)}) for i in range(50)]
    refused = _refusals(client.post("/v1/events", json=rows))
    assert sorted(refused) == list(range(1, 51))
    field, reason = refused[1]
    assert field == "k0_0" and "is not an event field" in reason and "'properties'" in reason
    assert sqlite_workspace.store.events()["event_id"].to_list() == ["ok"]
    letter = sqlite_workspace.store.dead_letters()[0]
    assert letter.field == "k0_0" and '"_dropped"' in letter.payload


def test_catalog_attribute_names_are_limited(
    client: TestClient, sqlite_workspace: Workspace
) -> None:
    """20 new attribute names per item: the rows past `max_attribute_names` are refused."""
    sqlite_workspace.settings.ingest.max_attribute_names = 50
    items = [{"item_id": f"i{i}", **{f"a{i}_{j}": "x" for j in range(20)}} for i in range(5)]
    refused = _refusals(client.put("/v1/items", json=items))
    assert sorted(refused) == [2, 3, 4]  # 40 names fit, the third item's 20 more do not
    assert all("limit ingest.max_attribute_names" in reason for _, reason in refused.values())
    assert sqlite_workspace.store.items()["item_id"].to_list() == ["i0", "i1"]
    # the next request counts the stored names too
    again = _refusals(client.put("/v1/items", json=[{"item_id": "i9", "new": 1, "a0_0": "y"}]))
    assert set(again) == set()  # 41 names now
    more = [{"item_id": f"j{i}", **{f"b{i}_{j}": 1 for j in range(10)}} for i in range(2)]
    assert sorted(_refusals(client.put("/v1/items", json=more))) == [0, 1]


def test_attributes_per_row_are_limited(client: TestClient) -> None:
    row = {"user_id": "u", **{f"a{j}": j for j in range(65)}}
    refused = _refusals(client.put("/v1/users", json=[row, {"user_id": "v", "a0": 1}]))
    assert refused == {0: ("attributes", "65 attributes (at most 64: limit ingest.max_attributes)")}


# --- point 6: deep JSON ----------------------------------------------------------------------
@pytest.mark.parametrize("depth", [33, 255, 600, 1022])
@pytest.mark.parametrize("field", ["context", "properties"])
def test_deep_event_json_is_refused_per_row(
    client: TestClient, sqlite_workspace: Workspace, depth: int, field: str
) -> None:
    """Depths 255-1022 used to answer a plain-text 500 and lose the valid rows of the batch."""
    body = (
        b'[{"event_id": "ok", "user_id": "a", "type": "search", "timestamp": "2026-01-01",'
        b' "context": {"page": "home"}},'
        b' {"event_id": "deep", "user_id": "a", "type": "search", "timestamp": "2026-01-01", "'
        + field.encode()
        + b'": '
        + _nested(depth)
        + b"}]"
    )
    answer = client.post("/v1/events", content=body, headers={"content-type": "application/json"})
    assert _refusals(answer) == {
        1: (field, f"field '{field}' is nested deeper than 32 levels (limit ingest.max_json_depth)")
    }
    assert sqlite_workspace.store.events()["event_id"].to_list() == ["ok"]
    letter = sqlite_workspace.store.dead_letters()[0]
    assert (letter.event_id, letter.field, letter.row_index) == ("deep", field, 1)
    assert len(letter.payload) <= sqlite_workspace.settings.ingest.dead_letter_excerpt_bytes


@pytest.mark.parametrize("path", ["/v1/items", "/v1/users"])
@pytest.mark.parametrize("depth", [40, 300])
def test_deep_attributes_are_refused_per_row(client: TestClient, path: str, depth: int) -> None:
    key = "item_id" if path == "/v1/items" else "user_id"
    body = b'[{"' + key.encode() + b'": "ok"}, {"' + key.encode() + b'": "x", "spec": '
    answer = client.put(path, content=body + _nested(depth) + b"}]")
    assert _refusals(answer) == {
        1: ("spec", "field 'spec' is nested deeper than 32 levels (limit ingest.max_json_depth)")
    }
    assert answer.json()["accepted"] == 1


def test_oversized_json_field_is_refused_per_row(client: TestClient) -> None:
    big = {"blob": "x" * 70_000}
    refused = _refusals(client.post("/v1/events", json=[_event("a"), _event("b", properties=big)]))
    assert refused == {
        1: (
            "properties",
            "field 'properties' is larger than 65536 bytes (limit ingest.max_json_bytes)",
        )
    }


# --- point 7: NUL bytes (PostgreSQL cannot store them; refused on every backend) ----------
@pytest.mark.parametrize("field", ["event_id", "item_id", "session_id"])
def test_nul_in_event_ids_is_refused_per_row(
    client: TestClient, sqlite_workspace: Workspace, field: str
) -> None:
    bad = {**_event("e2"), field: "a\x00b"}
    refused = _refusals(client.post("/v1/events", json=[_event("e1"), bad]))
    assert refused == {1: (field, f"field '{field}' contains a NUL character")}
    assert sqlite_workspace.store.count_events() == 1
    letter = sqlite_workspace.store.dead_letters()[0]
    assert "\x00" not in (letter.event_id or "") + letter.reason


def test_nul_in_item_fields_is_refused_per_row(client: TestClient) -> None:
    rows = [{"item_id": "ok"}, {"item_id": "a\x00"}, {"item_id": "b", "title": "t\x00"}]
    refused = _refusals(client.put("/v1/items", json=rows))
    assert refused == {
        1: ("item_id", "field 'item_id' contains a NUL character"),
        2: ("title", "field 'title' contains a NUL character"),
    }


# --- point 8: size limits ----------------------------------------------------------------------
def test_a_body_over_the_limit_is_refused_before_it_is_read(
    client: TestClient, sqlite_workspace: Workspace
) -> None:
    sqlite_workspace.settings.ingest.max_body_bytes = 4096
    body = orjson.dumps([_event("e1", properties={"x": "y" * 5000})])
    answer = client.post("/v1/events", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 413
    assert answer.json()["error"] == "PayloadTooLargeError"
    assert "limit ingest.max_body_bytes" in answer.json()["message"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streamed
        yield body[:3000]
        yield body[3000:]

    streamed = client.put("/v1/items", content=chunks())
    assert streamed.status_code == 413 and "more than" in streamed.json()["message"]
    assert sqlite_workspace.store.count_events() == 0


def test_a_huge_refused_id_is_kept_as_a_bounded_excerpt(
    client: TestClient, sqlite_workspace: Workspace
) -> None:
    """A refused 10 MB event_id used to be stored whole, twice (payload and event_id)."""
    huge = "e" * 2_000_000
    refused = _refusals(client.post("/v1/events", json=[_event(huge)]))
    assert (
        refused[0][1]
        == "field 'event_id' is longer than 256 characters (limit ingest.max_id_length)"
    )
    rejection = client.post("/v1/events", json=[_event(huge)]).json()["rejections"][0]
    assert len(rejection["event_id"]) <= 513
    (letter,) = sqlite_workspace.store.dead_letters()  # the same refusal is kept once
    assert len(letter.payload) <= 4096 and len(letter.event_id or "") <= 513
    payload = orjson.loads(letter.payload)
    assert payload["_bytes"] > 2_000_000 and payload["_excerpt"].startswith('{"user_id":')
    assert huge not in letter.reason


def test_limits_are_settings(client: TestClient, sqlite_workspace: Workspace) -> None:
    sqlite_workspace.settings.ingest.max_json_depth = 2
    sqlite_workspace.settings.ingest.max_batch = 2
    too_many = client.post("/v1/events", json=[_event("a"), _event("b"), _event("c")])
    assert too_many.status_code == 422
    assert too_many.json()["message"] == (
        "body: 3 events in one batch (at most 2: limit ingest.max_batch)"
    )
    refused = _refusals(client.post("/v1/events", json=[_event("d", context={"a": {"b": {}}})]))
    assert refused[0][1].endswith("deeper than 2 levels (limit ingest.max_json_depth)")


@pytest.mark.parametrize("created_at", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
def test_creation_times_past_the_calendar_are_refused(client: TestClient, created_at: str) -> None:
    """Found by the fuzzer: such an item made every featured listing panic in the engine."""
    rows = [{"item_id": "ok"}, {"item_id": "bad", "created_at": created_at}]
    refused = _refusals(client.put("/v1/items", json=rows))
    assert refused[1][0] == "created_at" and "outside 1900..2200" in refused[1][1]
    assert client.get("/v1/featured").json()["item"]["item_id"] == "ok"
