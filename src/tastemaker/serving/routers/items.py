"""GET /v1/items/{item_id}/similar and /bought-together."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from tastemaker.engine.runtime import Engine
from tastemaker.serving.deps import EngineDep, Scoped
from tastemaker.serving.responses import SimilarResponse, error_responses

router = APIRouter(prefix="/v1/items", tags=["items"], dependencies=[Scoped("read")])

ItemId = Annotated[str, Path(min_length=1, max_length=256, description="A catalog item id.")]
K = Annotated[int, Query(ge=1, le=500, description="List length.")]
_ERRORS: dict[int | str, dict[str, Any]] = error_responses(
    401, 403, 404, 422, 429, 503, e404="unknown item", e422="k outside 1..500"
)


def _related(engine: Engine, item_id: str, k: int, kind: str) -> Response:
    found = engine.related(item_id, k, kind)
    body = SimilarResponse.model_validate(
        {
            "item_id": item_id,
            "model_version": found.model_version,
            "kind": kind,
            "items": found.items(),
        }
    )
    return Response(body.model_dump_json(), media_type="application/json")


@router.get("/{item_id}/similar", response_model=SimilarResponse, responses=_ERRORS)
def similar(engine: EngineDep, item_id: ItemId, k: K = 10) -> Response:
    """Items similar to ``item_id`` (in stock, the item itself excluded)."""
    return _related(engine, item_id, k, "similar")


@router.get("/{item_id}/bought-together", response_model=SimilarResponse, responses=_ERRORS)
def bought_together(engine: EngineDep, item_id: ItemId, k: K = 10) -> Response:
    """Items often bought or used together with ``item_id``."""
    return _related(engine, item_id, k, "bought_together")
