"""Small JSON bodies read by hand (within the body limit) and validated by a pydantic model."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from tastemaker.errors import ValidationFailedError

M = TypeVar("M", bound=BaseModel)


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The ``openapi_extra`` that documents ``model`` as the route's required JSON body."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


def parse_body(model: type[M], raw: bytes) -> M:
    """``raw`` as a ``model``.

    Raises:
        ValidationFailedError: not JSON, or a field missing, unknown or invalid, each named
            as ``body.<field>: <reason>``.
    """
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        problems = [f"body.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ValidationFailedError("; ".join(problems), detail=problems) from None
