"""The manifest of a model version and the feature schema it was built against."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tastemaker import __version__
from tastemaker.models.base import FORMAT_VERSION
from tastemaker.schema import ITEM_CORE_COLUMNS, MODEL_EVENT_TYPES

#: Layout of a version folder (model/, retrieval/, serving.npz); bump when it changes.
ARTIFACT_LAYOUT = 1
MANIFEST_FILE = "manifest.json"


def feature_schema() -> dict[str, Any]:
    """What the running code expects of an artifact: formats, event types, item columns."""
    return {
        "artifact_layout": ARTIFACT_LAYOUT,
        "model_format": FORMAT_VERSION,
        "event_types": sorted(MODEL_EVENT_TYPES),
        "item_core_columns": list(ITEM_CORE_COLUMNS),
    }


def feature_schema_hash(schema: dict[str, Any] | None = None) -> str:
    """Short stable hash of :func:`feature_schema` (or of ``schema``)."""
    text = json.dumps(schema if schema is not None else feature_schema(), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def code_version() -> str:
    """The package version, plus the git commit when running from a checkout."""
    from pathlib import Path

    head = Path(__file__).resolve().parents[3] / ".git" / "HEAD"
    try:
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            ref = (head.parent / ref[5:]).read_text().strip()
        return f"{__version__}+g{ref[:10]}"
    except OSError:
        return __version__


class DataRange(BaseModel):
    """The training data: time range (ISO 8601 UTC) and sizes."""

    start: str | None = None
    end: str | None = None
    end_ms: int = 0
    events: int = 0
    users: int = 0
    items: int = 0


class Manifest(BaseModel):
    """Everything known about one trained version (``manifest.json`` in its folder)."""

    model_config = ConfigDict(extra="allow")

    version: str
    created_at: str
    model: str
    params: dict[str, Any] = Field(default_factory=dict)
    data: DataRange = Field(default_factory=DataRange)
    metrics: dict[str, float] = Field(default_factory=dict)
    feature_schema_hash: str = Field(default_factory=feature_schema_hash)
    feature_schema: dict[str, Any] = Field(default_factory=feature_schema)
    code_version: str = Field(default_factory=code_version)
    retrieval: dict[str, Any] = Field(default_factory=dict)
