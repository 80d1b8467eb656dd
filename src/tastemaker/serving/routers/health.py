"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from tastemaker.serving.deps import WorkspaceDep
from tastemaker.serving.runtime import model_status

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(ws: WorkspaceDep, request: Request) -> JSONResponse:
    """The store is reachable and a model version (or the popularity fallback) is loaded."""
    checks: dict[str, str] = {}
    try:
        ws.store.schema_version()
        checks["store"] = "ok"
    except Exception as exc:  # any driver error means "not ready"
        checks["store"] = f"unreachable: {type(exc).__name__}"
    model = model_status(request)
    checks["model"] = model.pop("status")
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"ready": ready, "checks": checks, **model}, status_code=200 if ready else 503
    )
