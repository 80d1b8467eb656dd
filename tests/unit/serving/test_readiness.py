"""Readiness with the model loaded at start-up: 503 "loading" at once, 200 once loaded."""

from __future__ import annotations

import threading

import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from tastemaker.serving import create_app
from tastemaker.serving.routers import health
from tastemaker.serving.runtime import ServingRuntime
from tastemaker.workspace import Workspace


def test_preload_answers_loading_then_ready(
    sqlite_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    real = health.get_runtime

    def slow(request: Request) -> ServingRuntime:
        assert release.wait(10)
        return real(request)

    monkeypatch.setattr(health, "get_runtime", slow)
    app = create_app(sqlite_workspace, preload=True)
    with TestClient(app) as client:
        loading = client.get("/readyz")
        assert loading.status_code == 503
        assert loading.json()["checks"] == {"store": "ok", "model": "loading"}
        release.set()
        assert app.state.model_loading.wait(10)
        assert app.state.runtime is not None
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["model_version"] == "none"


def test_failed_preload_is_retried_by_readyz(
    sqlite_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_request: Request) -> ServingRuntime:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(health, "get_runtime", broken)
    app = create_app(sqlite_workspace, preload=True)
    with TestClient(app) as client:
        assert app.state.model_loading.wait(10)
        assert getattr(app.state, "runtime", None) is None
        assert client.get("/readyz").status_code == 200  # loaded on demand, as without preload


def test_without_preload_the_first_readyz_loads(sqlite_workspace: Workspace) -> None:
    app = create_app(sqlite_workspace)
    with TestClient(app) as client:
        assert getattr(app.state, "runtime", None) is None
        assert client.get("/readyz").status_code == 200
        assert app.state.runtime is not None
