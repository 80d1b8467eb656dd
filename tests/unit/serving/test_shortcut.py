"""The ASGI shortcut answers plain recommendation requests and hands the rest to the route."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import orjson
import psycopg
import pytest

from tastemaker.access import AccessGate
from tastemaker.config import ServingConfig, Settings
from tastemaker.errors import StoreUnavailableError
from tastemaker.rerank.filters import Filters
from tastemaker.serving.metrics import ServingMetrics
from tastemaker.serving.routers.recommendations import RecommendationShortcut, plain_request


class _Served:
    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    def to_json(self) -> bytes:
        return orjson.dumps(self.body)


class _Runtime:
    """Records calls; raises when told to."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.calls: list[tuple[str, int, Filters, str | None]] = []
        self.fail = fail
        settings = SimpleNamespace(serving=SimpleNamespace(default_k=10, api_key=None))
        self.ws = SimpleNamespace(settings=settings)

    def recommend(self, user_id: str, k: int, filters: Filters, context: str | None) -> _Served:
        if self.fail is not None:
            raise self.fail
        self.calls.append((user_id, k, filters, context))
        return _Served({"user_id": user_id, "k": k})


def _call(
    path: str, query: str = "", method: str = "GET", api_key: str | None = None, **kw: Any
) -> tuple[list[dict[str, Any]], list[str], _Runtime, ServingMetrics]:
    runtime = kw.get("runtime") or _Runtime()
    metrics = ServingMetrics()
    serving = ServingConfig(api_key=kw.get("expected_key"), allow_anonymous="always")
    gate = AccessGate(Settings(serving=serving), store=None)  # type: ignore[arg-type]
    state = SimpleNamespace(engine=runtime, metrics=metrics, gate=gate)
    handed_on: list[str] = []

    async def route(scope: Any, receive: Any, send: Any) -> None:
        handed_on.append(scope["path"])

    shortcut = RecommendationShortcut(route, SimpleNamespace(state=state))  # type: ignore[arg-type]
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"x-api-key", api_key.encode())] if api_key else []
    scope = {"type": "http", "method": method, "path": path, "root_path": "",
             "query_string": query.encode(), "headers": headers}  # fmt: skip
    asyncio.run(shortcut(scope, None, send))
    return sent, handed_on, runtime, metrics


def test_a_plain_request_is_answered_without_the_route() -> None:
    sent, handed_on, runtime, metrics = _call(
        "/v1/recommendations/alice", "k=7&filters=fuel_type:electric&context=home&utm=x"
    )
    assert handed_on == []
    assert sent[0]["status"] == 200 and orjson.loads(sent[1]["body"]) == {
        "user_id": "alice",
        "k": 7,
    }
    user, k, filters, context = runtime.calls[0]
    assert (user, k, context) == ("alice", 7, "home") and filters.key() != Filters().key()
    count = metrics.registry.get_sample_value(
        "tastemaker_requests_total",
        {"endpoint": "/v1/recommendations/{user_id}", "method": "GET", "status": "200"},
    )
    assert count == 1.0


def test_default_k_comes_from_the_settings() -> None:
    _, handed_on, runtime, _ = _call("/v1/recommendations/bob")
    assert handed_on == [] and runtime.calls[0][1] == 10


@pytest.mark.parametrize(
    ("path", "query", "method"),
    [
        ("/v1/recommendations/alice", "k=0", "GET"),
        ("/v1/recommendations/alice", "k=501", "GET"),
        ("/v1/recommendations/alice", "k=abc", "GET"),
        ("/v1/recommendations/alice", "k=+5", "GET"),
        ("/v1/recommendations/alice", "k=5&k=6", "GET"),
        ("/v1/recommendations/alice", "filters=", "GET"),
        ("/v1/recommendations/alice", "filters=colour", "GET"),  # malformed: the route's 422
        ("/v1/recommendations/alice", "context=" + "x" * 257, "GET"),
        ("/v1/recommendations/" + "u" * 257, "", "GET"),
        ("/v1/recommendations/", "", "GET"),
        ("/v1/recommendations/a/b", "", "GET"),
        ("/v1/recommendations/alice", "", "POST"),
        ("/v1/items/i1/similar", "k=5", "GET"),
    ],
)
def test_anything_unusual_goes_to_the_route(path: str, query: str, method: str) -> None:
    sent, handed_on, runtime, _ = _call(path, query, method)
    assert handed_on == [path] and sent == [] and runtime.calls == []


def test_a_wrong_api_key_or_an_error_goes_to_the_route() -> None:
    _, handed_on, _, _ = _call("/v1/recommendations/alice", api_key="no", expected_key="yes")
    assert handed_on == ["/v1/recommendations/alice"]
    _, handed_on, _, _ = _call("/v1/recommendations/alice", api_key="yes", expected_key="yes")
    assert handed_on == []
    _, handed_on, _, _ = _call(
        "/v1/recommendations/alice", runtime=_Runtime(fail=StoreUnavailableError("store down"))
    )
    assert handed_on == ["/v1/recommendations/alice"]


def test_a_driver_outage_goes_to_the_route_which_answers_it() -> None:
    """Raised from here, a driver error would pass the app's outage answer by and reach
    Starlette's catch-all handler, after which uvicorn closes the connection."""
    down = _Runtime(fail=psycopg.OperationalError("connection refused"))
    _, handed_on, _, _ = _call("/v1/recommendations/alice", runtime=down)
    assert handed_on == ["/v1/recommendations/alice"]


def test_the_parser_by_hand() -> None:
    scope = {"method": "GET", "path": "/v1/recommendations/a b", "query_string": b"k=3&x=&k2="}
    assert plain_request(scope) == ("a b", {"k": "3"})
