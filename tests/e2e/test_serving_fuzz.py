"""Fuzz the serving endpoints' OpenAPI schema with schemathesis: no request may get a 5xx, and
no answer may break the schema (undocumented status, wrong content type, body or headers).

Every operation of the schema is fuzzed: ingestion (the whole event, item and user
schemas), profiles, featured listing, recommendations, items, feedback, health and
metrics. schemathesis is pinned in the dev extras; without it the test is skipped.
"""

from __future__ import annotations

from pathlib import Path

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
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tastemaker.datasets.marketplace import generate_marketplace  # noqa: E402
from tastemaker.serving import create_app  # noqa: E402
from tastemaker.training.recommender import registry_of, train_version  # noqa: E402
from tastemaker.workspace import Workspace  # noqa: E402

PREFIXES = ("/v1/", "/healthz", "/readyz", "/metrics")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> object:
    """The schema of an app over a small trained workspace."""
    ws = Workspace.init(Path(tmp_path_factory.mktemp("fuzz")) / "ws", allow_anonymous="always")
    ws.settings.serving.open_endpoints = "always"  # /metrics too, from the fuzzer's client
    m = generate_marketplace(users=60, items=120, days=5, seed=4)
    ws.ingestor.ingest_items(m.items, "test")
    ws.ingestor.ingest_events(m.events, "test")
    params = {"components": ["itemknn", "als"], "weights": [0.5, 0.5]}
    registry_of(ws).promote(train_version(ws, "hybrid", params, holdout=0).version)
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(ws))


def test_no_server_errors_and_no_answer_breaks_the_schema(api_schema: object) -> None:
    """Every operation, 40 generated requests each, valid and invalid by the schema."""
    failures: list[str] = []
    calls: list[int] = []
    operations: list[str] = []
    for result in api_schema.get_all_operations():  # type: ignore[attr-defined]
        operation = result.ok()
        if not operation.path.startswith(PREFIXES):
            continue
        operations.append(f"{operation.method.upper()} {operation.path}")

        modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)

        @given(case=st.one_of(*(operation.as_strategy(mode) for mode in modes)))
        @settings(
            max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def run(case: object) -> None:
            try:
                response = case.call_and_validate(checks=CHECKS)  # type: ignore[attr-defined]
            except (AssertionError, FailureGroup) as exc:  # the checks that failed, worded
                failures.append(f"{case}: {str(exc)[:600]}")
                return
            calls.append(response.status_code)

        run()
    assert {"POST /v1/events", "PATCH /v1/items", "DELETE /v1/items/{item_id}"} <= set(operations)
    assert len(operations) >= 15 and len(calls) >= 15 * 5
    assert not failures, "\n".join(failures[:10])


def test_the_event_schema_is_whole(api_schema: object) -> None:
    """The event body once referred to a missing EventType: fuzzers saw a broken schema."""
    raw = api_schema.raw_schema  # type: ignore[attr-defined]
    body = raw["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    event = body["schema"]["oneOf"][0]["items"]
    assert set(event["properties"]["type"]["enum"]) >= {"view", "purchase", "identify"}
    assert event["additionalProperties"] is False
