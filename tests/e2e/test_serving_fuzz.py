"""Fuzz the serving endpoints' OpenAPI schema with schemathesis: no request may get a 5xx.

Every operation of the schema is fuzzed: ingestion, profiles, featured listing,
recommendations, items, feedback, health and metrics. schemathesis is pinned in the dev
extras; without it the test is skipped with a message.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

schemathesis = pytest.importorskip(
    "schemathesis", reason="schemathesis is not installed: pip install schemathesis==4.32.5"
)

from tastemaker.datasets.marketplace import generate_marketplace  # noqa: E402
from tastemaker.serving import create_app  # noqa: E402
from tastemaker.training.recommender import registry_of, train_version  # noqa: E402
from tastemaker.workspace import Workspace  # noqa: E402

PREFIXES = ("/v1/", "/healthz", "/readyz", "/metrics")


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> object:
    """The schema of an app over a small trained workspace."""
    ws = Workspace.init(Path(tmp_path_factory.mktemp("fuzz")) / "ws")
    m = generate_marketplace(users=60, items=120, days=5, seed=4)
    ws.ingestor.ingest_items(m.items, "test")
    ws.ingestor.ingest_events(m.events, "test")
    params = {"components": ["itemknn", "als"], "weights": [0.5, 0.5]}
    registry_of(ws).promote(train_version(ws, "hybrid", params, holdout=0).version)
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(ws))


def test_no_server_errors(api_schema: object) -> None:
    """Every operation, 25 generated requests each (schemathesis strategies via hypothesis)."""
    failures: list[str] = []
    calls: list[int] = []
    operations = 0
    for result in api_schema.get_all_operations():  # type: ignore[attr-defined]
        operation = result.ok()
        if not operation.path.startswith(PREFIXES):
            continue
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def run(case: object) -> None:
            response = case.call()  # type: ignore[attr-defined]
            calls.append(response.status_code)
            if response.status_code >= 500:
                failures.append(f"{response.status_code} {response.text[:200]} for {case}")

        run()
    assert operations >= 12 and len(calls) >= 12 * 5
    assert not failures, "\n".join(failures[:10])
