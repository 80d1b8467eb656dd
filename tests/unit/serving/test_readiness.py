"""Readiness with the model loaded at start-up: 503 "loading" at once, 200 once loaded."""

from __future__ import annotations

import threading

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tastemaker.serving import create_app
from tastemaker.serving.routers import health
from tastemaker.workspace import Workspace


def test_preload_answers_loading_then_ready(
    sqlite_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    real = health._preload

    def slow(app: FastAPI) -> None:
        assert release.wait(10)
        real(app)

    monkeypatch.setattr(health, "_preload", slow)
    app = create_app(sqlite_workspace, preload=True)
    with TestClient(app) as client:
        loading = client.get("/readyz")
        assert loading.status_code == 503
        assert loading.json()["checks"] == {"store": "ok", "model": "loading"}
        release.set()
        assert app.state.model_loading.wait(10)
        assert app.state.engine is not None
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["model_version"] == "none"


def test_failed_preload_is_retried_by_readyz(
    sqlite_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_app: FastAPI) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(health, "_preload", broken)
    app = create_app(sqlite_workspace, preload=True)
    with TestClient(app) as client:
        assert app.state.model_loading.wait(10)
        assert getattr(app.state, "engine", None) is None
        assert client.get("/readyz").status_code == 200  # loaded on demand, as without preload


def test_without_preload_the_first_readyz_loads(sqlite_workspace: Workspace) -> None:
    app = create_app(sqlite_workspace)
    with TestClient(app) as client:
        assert getattr(app.state, "engine", None) is None
        assert client.get("/readyz").status_code == 200
        assert app.state.engine is not None
