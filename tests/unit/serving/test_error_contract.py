"""The API's contract under errors (issue #12 points 10-12): authentication before any body is
read, every error answer in the documented `ErrorBody` shape, a whole OpenAPI schema, and a
backend outage answered 503 with Retry-After (writes) or a fallback (reads)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

jsonschema_rs = pytest.importorskip("jsonschema_rs", reason="comes with schemathesis (dev extras)")
import redis  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from tastemaker.serving import create_app  # noqa: E402
from tastemaker.serving.responses import ErrorBody  # noqa: E402
from tastemaker.workspace import Workspace  # noqa: E402

BODY_ROUTES = [
    ("POST", "/v1/events"),
    ("PUT", "/v1/items"),
    ("PATCH", "/v1/items"),
    ("PUT", "/v1/users"),
    ("PATCH", "/v1/users"),
    ("POST", "/v1/feedback"),
]


@pytest.fixture
def client(sqlite_workspace: Workspace) -> Iterator[TestClient]:
    with TestClient(create_app(sqlite_workspace), raise_server_exceptions=False) as c:
        yield c


def _schema(client: TestClient) -> dict[str, Any]:
    schema: dict[str, Any] = client.get("/openapi.json").json()
    return schema


# --- point 11: authenticate first, everywhere -----------------------------------------------------
@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
def test_a_body_is_not_read_before_the_api_key_is_checked(
    sqlite_workspace: Workspace, method: str, path: str
) -> None:
    """/v1/feedback used to parse an unauthenticated body and answer 422 with the schema."""
    sqlite_workspace.settings.serving.api_key = "s3cret"
    app = create_app(sqlite_workspace)
    reads: list[bytes] = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        reads.append(b"{not json")
        return {"type": "http.request", "body": b"{not json", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"content-type", b"application/json"), (b"content-length", b"900000000")]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("t", 1),
        "server": ("t", 80),
        "app": app,
    }
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 401  # not 413 (size) nor 422 (body): nothing was read
    assert reads == []
    assert ErrorBody.model_validate_json(sent[1]["body"]).error == "AuthError"


# --- point 12: the schema is whole and documents every error answer ------------------------------
def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_every_schema_reference_resolves(client: TestClient) -> None:
    """The event body referred to a missing #/components/schemas/EventType."""
    schema = _schema(client)
    components = schema["components"]["schemas"]
    refs = set(_refs(schema))
    assert refs, "the schema has references"
    missing = {r for r in refs if r.removeprefix("#/components/schemas/") not in components}
    assert not missing
    event = schema["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    item_schema = event["schema"]["oneOf"][0]["items"]
    assert "view" in item_schema["properties"]["type"]["enum"]


def test_error_answers_are_documented_with_the_error_schema(client: TestClient) -> None:
    paths = _schema(client)["paths"]
    error_ref = "#/components/schemas/ErrorBody"
    for path, operations in paths.items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in operations.items():
            responses = operation["responses"]
            where = f"{method.upper()} {path}"
            assert "422" in responses or not operation.get("parameters"), where
            for code, answer in responses.items():
                if code.startswith(("4", "5")):
                    ref = answer["content"]["application/json"]["schema"]["$ref"]
                    assert ref == error_ref, f"{where} {code}"
    for path in ("/v1/users/{user_id}/profile", "/v1/users/{user_id}/segments"):
        assert "404" in paths[path]["get"]["responses"], path
    assert "404" in paths["/v1/propensity/{user_id}"]["get"]["responses"]
    assert "Retry-After" in paths["/v1/events"]["post"]["responses"]["503"]["headers"]


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/v1/recommendations/alice", {"params": {"k": 0}}),
        ("POST", "/v1/events", {"content": b"{not json"}),
        ("POST", "/v1/feedback", {"json": {"user_id": "u"}}),
        ("GET", "/v1/featured", {"params": {"filters": "price<<3"}}),
    ],
)
def test_422_answers_match_the_documented_schema(
    client: TestClient, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    """They used to follow FastAPI's documented HTTPValidationError, not the error shape."""
    answer = client.request(method, path, **kwargs)
    assert answer.status_code == 422, answer.text
    schema = _schema(client)
    operation = schema["paths"][path.replace("alice", "{user_id}")][method.lower()]
    documented = operation["responses"]["422"]["content"]["application/json"]["schema"]
    validator = jsonschema_rs.validator_for({**documented, "components": schema["components"]})
    assert validator.is_valid(answer.json()), answer.json()
    assert answer.json()["error"] == "ValidationFailedError"


def test_unexpected_errors_answer_json(
    client: TestClient, sqlite_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise KeyError("a bug")

    monkeypatch.setattr(sqlite_workspace.store, "upsert_users", broken)
    answer = client.put("/v1/users", json=[{"user_id": "u"}])
    assert answer.status_code == 500
    assert ErrorBody.model_validate(answer.json()).error == "InternalError"


# --- point 10: an outage answers 503 + Retry-After (writes), a fallback (reads) ---------------
@pytest.mark.parametrize(
    "error",
    [
        psycopg.OperationalError("server closed the connection unexpectedly"),
        redis.exceptions.ConnectionError("Connection refused"),
    ],
)
def test_an_outage_while_ingesting_answers_503_with_retry_after(
    client: TestClient,
    sqlite_workspace: Workspace,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
) -> None:
    def down(*_: Any, **__: Any) -> Any:
        raise error

    monkeypatch.setattr(sqlite_workspace.store, "append_events", down)
    monkeypatch.setattr(sqlite_workspace.store, "upsert_items", down)
    event = {"event_id": "e", "user_id": "u", "type": "search", "timestamp": "2026-01-01"}
    for answer in (
        client.post("/v1/events", json=[event]),
        client.put("/v1/items", json=[{"item_id": "i"}]),
    ):
        assert answer.status_code == 503, answer.text
        assert int(answer.headers["retry-after"]) > 0
        body = ErrorBody.model_validate(answer.json())
        assert body.error == "StoreUnavailableError"
        assert "127.0.0.1" not in body.message  # the driver's details stay in the log


def test_an_outage_is_answered_inside_the_app_so_the_connection_stays_open(
    sqlite_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A driver error left unwrapped must not reach Starlette's catch-all handler: it answers
    and raises again, and uvicorn then closes the keep-alive connection (the client's next
    request on it was reset in `tastemaker bench chaos`)."""

    def down(*_: Any, **__: Any) -> Any:
        raise psycopg.OperationalError("connection failed: Connection refused")

    monkeypatch.setattr(sqlite_workspace.store, "append_events", down)
    event = {"event_id": "e", "user_id": "u", "type": "search", "timestamp": "2026-01-01"}
    # raise_server_exceptions: an exception leaving the app fails here
    with TestClient(create_app(sqlite_workspace)) as strict:
        answer = strict.post("/v1/events", json=[event])
    assert answer.status_code == 503 and int(answer.headers["retry-after"]) > 0
    assert ErrorBody.model_validate(answer.json()).error == "StoreUnavailableError"


def test_an_outage_while_reading_answers_a_fallback(
    client: TestClient, sqlite_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.put("/v1/items", json=[{"item_id": "car1", "category": "car"}])
    assert client.get("/v1/featured").json()["item"]["item_id"] == "car1"

    def down(*_: Any, **__: Any) -> Any:
        raise psycopg.OperationalError("connection refused")

    monkeypatch.setattr(sqlite_workspace.store, "items_version", down)
    monkeypatch.setattr(sqlite_workspace.store, "items", down)
    monkeypatch.setattr(sqlite_workspace.store, "load_profile_state", down)
    sqlite_workspace.profiles.catalog.invalidate()
    answer = client.get("/v1/featured", params={"user_id": "alice"})
    assert answer.status_code == 200
    assert answer.json()["rule"] == "fallback:unavailable"
    profile = client.get("/v1/users/alice/profile")
    assert profile.status_code == 503 and "retry-after" in profile.headers
