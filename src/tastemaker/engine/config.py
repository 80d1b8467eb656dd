"""Settings of the engine (both served lists): ``recommendations.yaml`` in the workspace.

Every section is optional; an absent (or empty) file means the defaults. A running engine
re-reads the file when it changes (``engine/reload.py``). Example::

    candidates: {ann: {n: 200}, neighbors: {recent: 5}, limit: 500}
    rerank:
      diversity: {lambda: 0.7}
      exploration: {share: 0.1}
      caps: {max_per: {brand: 3}}
      pins: {pins: [{item_id: i000042, position: 1}]}
      scores: {boost: [{filter: "fuel_type:electric", factor: 1.2}]}
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tastemaker.config import validation_problems
from tastemaker.errors import ConfigError
from tastemaker.rerank.chain import RerankConfig
from tastemaker.retrieval.sources import (
    AnnSourceConfig,
    NeighborSourceConfig,
    NewItemSourceConfig,
    PopularSourceConfig,
    SegmentSourceConfig,
)

PIPELINE_FILE = "recommendations.yaml"


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CandidatesConfig(_Config):
    """The candidate sources and the size of the merged list."""

    ann: AnnSourceConfig = Field(default_factory=AnnSourceConfig)
    neighbors: NeighborSourceConfig = Field(default_factory=NeighborSourceConfig)
    segments: SegmentSourceConfig = Field(default_factory=SegmentSourceConfig)
    new_items: NewItemSourceConfig = Field(default_factory=NewItemSourceConfig)
    popular: PopularSourceConfig = Field(default_factory=PopularSourceConfig)
    limit: int = Field(default=500, ge=1)


class PipelineConfig(_Config):
    """Everything the recommendation pipeline reads from configuration."""

    candidates: CandidatesConfig = Field(default_factory=CandidatesConfig)
    rerank: RerankConfig = Field(default_factory=RerankConfig)
    recent_boost: float = Field(default=3.0, ge=0, description="weight of fresh events")
    recent_days: float = Field(default=10.0, gt=0, description="fresh events looked up")
    segment_min_share: float = Field(default=0.3, ge=0, le=1)
    intent_weight: float = Field(
        default=3.0, ge=0, description="pull toward the attribute shares of recent activity"
    )
    impressions: Literal["per_item", "per_list", "off"] = Field(
        default="per_item", description="served lists as impression events: per item or per list"
    )
    user_cache_seconds: float = Field(
        default=60.0,
        ge=0,
        description="keep a user's profile, candidates and scores this long unless the user "
        "acts (0: off)",
    )
    watch_seconds: float = Field(default=1.0, gt=0, description="registry poll interval")
    reload_check_seconds: float = Field(
        default=1.0,
        ge=0,
        description="a request checks this file's modification time at most this often "
        "(0: every request) and reloads it when it changed",
    )
    catalog_refresh_seconds: float = Field(
        default=300.0, gt=0, description="rebuild the item tables at least this often"
    )
    catalog_change_seconds: float = Field(
        default=5.0,
        gt=0,
        description="after a catalog change in this process, rebuild the item tables once "
        "this long has passed since the last rebuild",
    )

    impressions_flush_seconds: float = Field(
        default=0.5,
        gt=0,
        description="longest wait before served lists are stored (smaller: shorter pauses)",
    )

    @field_validator("impressions", mode="before")
    @classmethod
    def _yaml_off(cls, value: object) -> object:
        return "off" if value is False else value  # YAML reads a bare `off` as false

    max_concurrent: int = Field(
        default=1, ge=1, description="pipelines running at once in one process (GIL-bound)"
    )
    seed: int | None = Field(default=None, description="fix exploration draws (tests)")


def load_pipeline_config(workspace: Path) -> PipelineConfig:
    """Read ``recommendations.yaml`` from the workspace (defaults when absent).

    Raises:
        ConfigError: invalid YAML or settings.
    """
    path = Path(workspace) / PIPELINE_FILE
    if not path.is_file():
        return PipelineConfig()
    return parse_pipeline_config(path.read_text(), path)


def parse_pipeline_config(text: str, path: Path | str = PIPELINE_FILE) -> PipelineConfig:
    """Validate the text of a ``recommendations.yaml`` (empty: the defaults).

    Raises:
        ConfigError: naming the file, then each field and why (or the YAML line).
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}:{where}: not valid YAML: {problem}") from exc
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    try:
        return PipelineConfig.model_validate(data or {})
    except ValidationError as exc:
        raise ConfigError(f"{path}: {validation_problems(exc)}") from exc
