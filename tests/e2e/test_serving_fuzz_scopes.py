"""Fuzz the whole OpenAPI schema with each scope's key and with none: no 5xx, no answer that
breaks the schema, and no operation reachable without its scope.

The app refuses requests without a key (``allow_anonymous: never``) and guards ``/metrics``
and the docs (``open_endpoints: never``); rate limits are off so that every generated
request reaches its check. A request made with a key that lacks the operation's scope must
be answered 401 (no key) or 403 (a key without the scope), whatever the rest of it holds;
a key with the scope (or admin) is never answered 401 / 403. The only other answers allowed
without the scope are those given before any route is chosen: no route for the
path (404 / 405) or a query string over ``serving.max_query_bytes`` (422).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

schemathesis = pytest.importorskip(
    "schemathesis", reason="schemathesis is not installed: pip install schemathesis==4.32.5"
)

from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.core.failures import FailureGroup  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tastemaker.access import KeyRing  # noqa: E402
from tastemaker.config import RateLimit  # noqa: E402
from tastemaker.datasets.marketplace import generate_marketplace  # noqa: E402
from tastemaker.serving import create_app  # noqa: E402
from tastemaker.training.recommender import registry_of, train_version  # noqa: E402
from tastemaker.workspace import Workspace  # noqa: E402

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
#: Generated requests per operation and principal (positive and negative by the schema).
EXAMPLES = 8
#: Operations without a route scope: open to all (health) or governed by open_endpoints.
OPEN = {"/healthz", "/readyz"}
GUARDED = {"/metrics"}
_SCOPE = re.compile(r"\*\*Scope:\*\* `(\w+)`")


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, str]]:
    """The schema of an app over a small trained workspace, and one key per scope."""
    ws = Workspace.init(Path(tmp_path_factory.mktemp("fuzz")) / "ws", allow_anonymous="never")
    ws.settings.serving.open_endpoints = "never"
    for scope in ("ingest", "read", "admin"):
        ws.settings.serving.rate_limits[scope] = RateLimit(per_second=0, burst=1)
    m = generate_marketplace(users=40, items=80, days=4, seed=5)
    ws.ingestor.ingest_items(m.items, "test")
    ws.ingestor.ingest_events(m.events, "test")
    registry_of(ws).promote(train_version(ws, "als", {"factors": 8}, holdout=0).version)
    ring = KeyRing(ws.store, ws.root)
    keys = {s: ring.create(f"fuzz-{s}", [s]).token for s in ("ingest", "read", "admin")}
    app = create_app(ws)
    return schemathesis.openapi.from_asgi("/openapi.json", app, headers=_key(keys["read"])), keys


def _key(token: str | None) -> dict[str, str]:
    return {"X-API-Key": token} if token else {}


def _needs(operation: Any) -> str | None:
    """The scope an operation needs (from its description), ``read`` for the guarded
    open endpoints, None for the health checks."""
    if operation.path in OPEN:
        return None
    if operation.path in GUARDED:
        return "read"
    found = _SCOPE.search(operation.definition.raw.get("description") or "")
    assert found, f"{operation.method.upper()} {operation.path}: no scope in its description"
    return found.group(1)


def _refused_before_routing(response: Any) -> bool:
    """No route for the path, or the query string over its bound (checked before any)."""
    if response.status_code in (404, 405):
        return "error" not in (response.json() if response.content else {})
    return response.status_code == 422 and "serving.max_query_bytes" in response.text


def _fuzz(operation: Any, principal: str, token: str | None, allowed: bool,
          failures: list[str], reached: dict[str, int]) -> None:  # fmt: skip
    """Send `EXAMPLES` generated requests to ``operation`` with ``token`` and check them."""
    name = f"{operation.method.upper()} {operation.path}"
    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)

    @given(case=st.one_of(*(operation.as_strategy(mode) for mode in modes)))
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def run(case: Any) -> None:
        headers = {k: v for k, v in (case.headers or {}).items()
                   if k.lower() not in ("x-api-key", "authorization")}  # fmt: skip
        case.headers = {**headers, **_key(token)}
        try:
            response = case.call_and_validate(checks=CHECKS)
        except (AssertionError, FailureGroup) as exc:
            failures.append(f"{principal} {case}: {str(exc)[:500]}")
            return
        status = response.status_code
        if not allowed and status not in (401, 403) and not _refused_before_routing(response):
            failures.append(f"{principal} reached {name} without its scope: {status}")
        if allowed and status in (401, 403):
            failures.append(f"{principal} refused {name} with its scope: {status}")
        if status < 300:
            reached[name] = reached.get(name, 0) + 1

    run()


@pytest.mark.parametrize("principal", ["none", "ingest", "read", "admin"])
def test_each_scope_and_none_over_the_whole_schema(
    fuzzed: tuple[Any, dict[str, str]], principal: str
) -> None:
    schema, keys = fuzzed
    token = keys.get(principal)
    failures: list[str] = []
    reached: dict[str, int] = {}
    operations = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in ("/docs", "/redoc", "/openapi.json"):
            continue
        needs = _needs(operation)
        allowed = needs is None or principal in (needs, "admin")
        operations.append(f"{operation.method.upper()} {operation.path}")
        _fuzz(operation, principal, token, allowed, failures, reached)
    assert len(operations) >= 20
    assert {"POST /v1/keys", "DELETE /v1/users/{user_id}"} <= set(operations)
    assert not failures, "\n".join(failures[:10])
    if principal == "admin":  # an admin key gets 2xx from most operations (random ids: 404)
        assert len(reached) >= len(operations) // 2, sorted(set(operations) - set(reached))
    if principal == "none":
        assert set(reached) <= {"GET /healthz", "GET /readyz"}
