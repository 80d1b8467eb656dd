"""API keys over the API (admin): create (the secret shown once), list (no secrets), revoke.

The same `KeyRing` calls as ``tastemaker keys create|list|revoke``; every call, refused ones
included, goes to the audit log through the admin scope's dependency, which names the key
created or revoked as the target.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from tastemaker.access import KeyRing
from tastemaker.config import Scope
from tastemaker.serving.bodies import body_schema, parse_body
from tastemaker.serving.deps import RawBody, Scoped, WorkspaceDep
from tastemaker.serving.responses import error_responses
from tastemaker.storage.base import ApiKeyRow

router = APIRouter(
    prefix="/v1/keys",
    tags=["keys"],
    dependencies=[Scoped("admin")],
    responses=error_responses(401, 403, 422, 429, 503),
)


class KeyCreate(BaseModel):
    """A key to create: who uses it and what it may do."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128, description="who uses it, e.g. shop-web")
    scopes: list[Scope] = Field(min_length=1, max_length=3, description="what it may do")


class KeyInfo(BaseModel):
    """A stored key as listed: never its secret nor its hash."""

    id: str
    name: str
    scopes: list[str]
    created_at: str = Field(description="UTC, ISO 8601")
    revoked_at: str | None = None
    last_used_at: str | None = None


class KeyCreated(KeyInfo):
    """A key just created, with the full key: the only time it is shown."""

    key: str = Field(description="tm_<id>_<secret>: send it as X-API-Key; not shown again")


class KeyList(BaseModel):
    """Every key of the workspace, revoked ones included, oldest first."""

    keys: list[KeyInfo]


def _iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def _info(row: ApiKeyRow) -> dict[str, object]:
    return {"id": row.id, "name": row.name, "scopes": list(row.scopes),
            "created_at": _iso(row.created_at), "revoked_at": _iso(row.revoked_at),
            "last_used_at": _iso(row.last_used_at)}  # fmt: skip


def _ring(request: Request, ws: WorkspaceDep) -> KeyRing:
    """The app's key ring (its cache forgets a revoked key at once in this process)."""
    ring: KeyRing = request.app.state.gate.keys
    assert ring.root == ws.root
    return ring


@router.post("", response_model=KeyCreated, status_code=201, openapi_extra=body_schema(KeyCreate))
async def create_key(request: Request, ws: WorkspaceDep, raw: RawBody) -> KeyCreated:
    """Create a key with ``scopes``; the answer holds the full key, shown this once (only its
    keyed hash is stored)."""
    body = parse_body(KeyCreate, raw)
    created = await asyncio.to_thread(_ring(request, ws).create, body.name, list(body.scopes))
    request.state.audit = {"target": created.row.id, "name": created.row.name,
                           "scopes": list(created.row.scopes)}  # fmt: skip
    return KeyCreated.model_validate({**_info(created.row), "key": created.token})


@router.get("", response_model=KeyList)
async def list_keys(request: Request, ws: WorkspaceDep) -> KeyList:
    """Every key: id, name, scopes, created, revoked, last used (never the secret)."""
    rows = await asyncio.to_thread(_ring(request, ws).list)
    return KeyList.model_validate({"keys": [_info(r) for r in rows]})


KeyId = Annotated[str, Path(max_length=64, description="the key's id (see GET /v1/keys)")]


@router.delete(
    "/{key_id}", response_model=KeyInfo, responses=error_responses(404, e404="no active key")
)
async def revoke_key(key_id: KeyId, request: Request, ws: WorkspaceDep) -> KeyInfo:
    """Revoke a key: this process refuses it at once, other server processes within
    ``serving.key_cache_seconds``."""
    row = await asyncio.to_thread(_ring(request, ws).revoke, key_id)
    request.state.audit = {"name": row.name}
    return KeyInfo.model_validate(_info(row))
