"""Purchase propensity: GET /v1/propensity/{user_id}?item_id=...&k=&at=.

``{user_id}`` is the raw user id as the shop knows it; it is pseudonymized before lookup.
Without ``item_id`` the items the user showed interest in during the model's user window
are scored (the population the model was trained on), highest probability first.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from tastemaker.serving.deps import Scoped, WorkspaceDep
from tastemaker.serving.responses import PropensityResponse, error_responses

if TYPE_CHECKING:
    from tastemaker.propensity.scorer import PropensityScorer

router = APIRouter(
    prefix="/v1/propensity",
    tags=["propensity"],
    dependencies=[Scoped("read")],
    responses=error_responses(
        401,
        403,
        404,
        422,
        429,
        503,
        e404="no propensity model promoted yet, or an item not in the catalog",
    ),
)


def _scorer(request: Request, ws: WorkspaceDep) -> PropensityScorer:
    # imported on first use: the scorer pulls in scikit-learn and the evaluation package
    # (about 1.8 s), which the API's start-up must not wait for
    from tastemaker.propensity.scorer import PropensityScorer

    scorer: PropensityScorer | None = getattr(request.app.state, "propensity", None)
    if scorer is None:
        scorer = PropensityScorer(ws)
        request.app.state.propensity = scorer
    return scorer


@router.get("/{user_id}", response_model=PropensityResponse)
def get_propensity(
    user_id: str,
    ws: WorkspaceDep,
    scorer: Annotated[Any, Depends(_scorer)],
    item_id: Annotated[list[str] | None, Query(max_length=500)] = None,
    k: Annotated[int, Query(ge=1, le=500)] = 20,
    factors: Annotated[int, Query(ge=0, le=10)] = 3,
    at: Annotated[datetime | None, Query(description="Score as of this time (replays).")] = None,
) -> PropensityResponse:
    """Probability that the user buys each item, with the features that pushed it most."""
    from tastemaker.propensity.scorer import answer_dict, as_of_ms

    answer = scorer.score(
        ws.pseudonymizer.one(user_id), item_id, k=k, factors=factors, now_ms=as_of_ms(at)
    )
    return PropensityResponse.model_validate(answer_dict(answer, user_id))
