"""Liveness and readiness, and loading the model when the server starts."""

from __future__ import annotations

import logging
import threading

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from tastemaker.serving.deps import WorkspaceDep
from tastemaker.serving.runtime import get_runtime, model_status

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


def start_loading(app: FastAPI) -> threading.Thread:
    """Load the serving runtime (the model versions) in a background thread.

    Called when the server starts, so the model is loaded by the time a client asks
    instead of on the first ``/readyz``; until the thread is done ``/readyz`` answers 503
    with ``model: loading`` at once. A failed load is logged; the next ``/readyz`` then
    tries again and reports the reason, as without preloading.
    """
    done = app.state.model_loading = threading.Event()

    def load() -> None:
        try:  # get_runtime only reads request.app: a bare scope is enough
            get_runtime(Request({"type": "http", "app": app}))
        except Exception:
            log.exception("loading the model at start-up failed")
        finally:
            done.set()

    thread = threading.Thread(target=load, name="tastemaker-load-model", daemon=True)
    thread.start()
    return thread


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


class Readiness(BaseModel):
    """Readiness: each check's status and the model versions served."""

    model_config = ConfigDict(extra="allow")

    ready: bool
    checks: dict[str, str]
    model_version: str | None = None


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
