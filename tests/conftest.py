"""Shared fixtures: workspaces on SQLite and PostgreSQL, and the shared data folder."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tastemaker.config import PostgresStoreConfig, ServingConfig, Settings, write_settings
from tastemaker.ingest.pseudonymize import create_key
from tastemaker.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]
POSTGRES_URL = os.environ.get(
    "TASTEMAKER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TASTEMAKER_TEST_REDIS", "redis://127.0.0.1:6379/15")


def shared_data_dir() -> Path:
    """Folder of the real data sets (../shared/data next to the repository)."""
    return Path(os.environ.get("TASTEMAKER_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def shared_data() -> Path:
    """The shared data folder, or skip when it is absent."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"shared data folder {path} is absent")
    return path


def _postgres_workspace(root: Path) -> tuple[Workspace, str]:
    schema = f"tm_test_{uuid.uuid4().hex[:12]}"
    settings = Settings(
        workspace=root,
        store=PostgresStoreConfig(url=POSTGRES_URL, schema_name=schema),
        serving=ServingConfig(allow_anonymous="always", open_endpoints="always"),  # as below
    )
    root.mkdir(parents=True, exist_ok=True)
    write_settings(settings)
    create_key(settings.key_path)
    return Workspace.open(root), schema


def _drop_schema(ws: Workspace, schema: str) -> None:
    from sqlalchemy import text

    store = ws.store
    engine = store.engine  # type: ignore[attr-defined]
    engine.dispose()
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture
def sqlite_workspace(tmp_path: Path) -> Iterator[Workspace]:
    """A fresh embedded (SQLite) workspace.

    Requests without a key, and for /metrics and the docs, are accepted from any client (the
    test client's address is "testclient", not loopback); the access tests set what they
    check.
    """
    ws = Workspace.init(tmp_path / "ws", allow_anonymous="always")
    ws.settings.serving.open_endpoints = "always"
    yield ws
    ws.close()


@pytest.fixture
def postgres_workspace(tmp_path: Path) -> Iterator[Workspace]:
    """A fresh workspace on PostgreSQL, in its own schema dropped afterwards."""
    try:
        ws, schema = _postgres_workspace(tmp_path / "ws")
    except Exception as exc:  # the service is down: say so rather than fail obscurely
        pytest.fail(f"PostgreSQL at {POSTGRES_URL} is not reachable: {exc}")
    yield ws
    _drop_schema(ws, schema)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def workspace(request: pytest.FixtureRequest) -> Workspace:
    """The same test on both store backends."""
    name = "sqlite_workspace" if request.param == "sqlite" else "postgres_workspace"
    ws: Workspace = request.getfixturevalue(name)
    return ws
