"""The base of every settings section: unknown keys are an error."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """A settings section that refuses keys it does not know (a typo is an error)."""

    model_config = ConfigDict(extra="forbid")
