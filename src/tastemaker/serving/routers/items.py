"""GET /v1/items/{item_id}/similar and /bought-together."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from tastemaker.serving.responses import SimilarResponse, error_responses
from tastemaker.serving.runtime import check_api_key, get_runtime

router = APIRouter(prefix="/v1/items", tags=["items"])

ItemId = Annotated[str, Path(min_length=1, max_length=256, description="A catalog item id.")]
K = Annotated[int, Query(ge=1, le=500, description="List length.")]
_ERRORS: dict[int | str, dict[str, Any]] = error_responses(
    401, 404, 422, 503, e404="unknown item", e422="k outside 1..500"
)


def _related(request: Request, item_id: str, k: int, kind: str) -> Response:
    check_api_key(request)
    version, items = get_runtime(request).related(item_id, k, kind)
    body = SimilarResponse(item_id=item_id, model_version=version, kind=kind, items=items)
    return Response(body.model_dump_json(), media_type="application/json")


@router.get("/{item_id}/similar", response_model=SimilarResponse, responses=_ERRORS)
def similar(request: Request, item_id: ItemId, k: K = 10) -> Response:
    """Items similar to ``item_id`` (in stock, the item itself excluded)."""
    return _related(request, item_id, k, "similar")


@router.get("/{item_id}/bought-together", response_model=SimilarResponse, responses=_ERRORS)
def bought_together(request: Request, item_id: ItemId, k: K = 10) -> Response:
    """Items often bought or used together with ``item_id``."""
    return _related(request, item_id, k, "bought_together")
