"""Liveness and readiness, and loading the model when the server starts."""

from __future__ import annotations

import logging
import threading
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from tastemaker.serving.deps import WorkspaceDep, engine_of

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


def start_loading(app: FastAPI) -> threading.Thread:
    """Load the engine (the model versions) in a background thread.

    Called when the server starts, so the model is loaded by the time a client asks
    instead of on the first ``/readyz``; until the thread is done ``/readyz`` answers 503
    with ``model: loading`` at once. A failed load is logged; the next ``/readyz`` then
    tries again and reports the reason, as without preloading.
    """
    done = app.state.model_loading = threading.Event()

    def load() -> None:
        try:
            _preload(app)
        except Exception:
            log.exception("loading the model at start-up failed")
        finally:
            done.set()

    thread = threading.Thread(target=load, name="tastemaker-load-model", daemon=True)
    thread.start()
    return thread


def _preload(app: FastAPI) -> None:
    """Build the app's engine (``engine_of`` only reads request.app: a bare scope is enough)."""
    engine_of(Request({"type": "http", "app": app}))


def model_status(request: Request) -> dict[str, Any]:
    """Readiness of the model side: loads the engine; ``status`` is ``ok`` once loaded.

    With no promoted version the popularity fallback serves and ``model_version`` is
    ``none``. ``experiments`` lists the running experiments and their variants. ``config``
    tells whether the latest ``recommendations.yaml`` serves; a refused file does not make
    the server unready (the previous settings serve), it says why.
    """
    try:
        engine = engine_of(request)
    except Exception as exc:  # a broken artifact means "not ready", with the reason
        return {"status": f"not loaded: {type(exc).__name__}: {exc}", "model_version": None}
    engine.prime_soon()
    state = engine.versions.state
    out: dict[str, Any] = {"status": "ok", "model_version": state.active or "none"}
    running = engine.experiments.running()  # a canary is one (canary-<version>)
    if running:
        out["experiments"] = {e.key: [v.name for v in e.variants] for e in running}
    if state.shadow:
        out["shadow"] = state.shadow
    config = engine.config_status()
    if config is not None:
        out["config"] = config.to_dict()
    return out


class Liveness(BaseModel):
    """Liveness: the process answers."""

    status: str = "ok"


@router.get("/healthz", response_model=Liveness)
def healthz() -> Liveness:
    """The process is up."""
    return Liveness()


class Readiness(BaseModel):
    """Readiness: each check's status and the model versions served."""

    model_config = ConfigDict(extra="allow")

    ready: bool
    checks: dict[str, str]
    model_version: str | None = None
    config: dict[str, Any] | None = Field(
        default=None,
        description="recommendations.yaml: file, valid, error (file, field, reason) when the "
        "latest edit was refused and the previous settings serve, loaded_at, reloads",
    )
    experiments: dict[str, list[str]] | None = Field(
        default=None, description="running experiments (a canary is one) -> their variants"
    )


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "not ready (the checks say why)"}},
)
def readyz(ws: WorkspaceDep, request: Request) -> JSONResponse:
    """The store is reachable and a model version (or the popularity fallback) is loaded."""
    checks: dict[str, str] = {}
    try:
        ws.store.schema_version()
        checks["store"] = "ok"
    except Exception as exc:  # any driver error means "not ready"
        checks["store"] = f"unreachable: {type(exc).__name__}"
    loading: threading.Event | None = getattr(request.app.state, "model_loading", None)
    if loading is not None and not loading.is_set():
        model: dict[str, object] = {"status": "loading", "model_version": None}
    else:
        model = model_status(request)
    checks["model"] = str(model.pop("status"))
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"ready": ready, "checks": checks, **model}, status_code=200 if ready else 503
    )
