"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from tastemaker.serving.deps import WorkspaceDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(ws: WorkspaceDep) -> JSONResponse:
    """The store is reachable (and, once models are served, a model is loaded)."""
    checks: dict[str, str] = {}
    try:
        ws.store.schema_version()
        checks["store"] = "ok"
    except Exception as exc:  # any driver error means "not ready"
        checks["store"] = f"unreachable: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)
