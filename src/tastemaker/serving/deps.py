"""FastAPI dependencies: the workspace, the API-key check and the bounded request body.

A route that reads a body declares `require_api_key` (its router does) before `RawBody`:
FastAPI solves router dependencies first, so an unauthenticated request is refused before
a byte of its body is read, and a body is never read past ``ingest.max_body_bytes``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from tastemaker.errors import AuthError, PayloadTooLargeError
from tastemaker.workspace import Workspace


async def get_workspace(request: Request) -> Workspace:
    """Return the workspace the app was started with (async: no thread-pool hop)."""
    ws: Workspace = request.app.state.workspace
    return ws


async def require_api_key(
    ws: Annotated[Workspace, Depends(get_workspace)],
    x_api_key: Annotated[str | None, Header()] = None,
) -> None:
    """Refuse the request when an API key is configured and not given."""
    expected = ws.settings.serving.api_key
    if expected and x_api_key != expected:
        raise AuthError("missing or wrong X-API-Key header")


async def read_body(request: Request, ws: Annotated[Workspace, Depends(get_workspace)]) -> bytes:
    """The request body, refused with 413 past ``ingest.max_body_bytes``.

    A declared ``Content-Length`` over the limit is refused before reading; a body sent
    without one (chunked) is refused as soon as what arrived passes the limit, so no more
    than the limit is ever held in memory.

    Raises:
        PayloadTooLargeError: naming the limit.
    """
    limit = ws.settings.ingest.max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit, at_least=True)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int, *, at_least: bool = False) -> PayloadTooLargeError:
    more = "more than " if at_least else ""
    return PayloadTooLargeError(
        f"body: {more}{size} bytes (at most {limit}: limit ingest.max_body_bytes)",
        limit="ingest.max_body_bytes",
        max_bytes=limit,
    )


WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]
#: The request body, read after the API-key check and within ``ingest.max_body_bytes``.
RawBody = Annotated[bytes, Depends(read_body)]
