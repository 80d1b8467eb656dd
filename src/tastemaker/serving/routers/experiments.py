"""Experiment definitions over the API (admin): list, read, create or replace, stop.

The definitions are the workspace's ``experiments/<key>.yaml`` files (the same ones the
``tastemaker experiments`` command writes); running servers pick a change up within a
second. The body of ``PUT`` is the definition as JSON (``tastemaker.experiments.definition``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from tastemaker.errors import ValidationFailedError
from tastemaker.experiments.breakdown import breakdown
from tastemaker.experiments.definition import Experiment, parse_experiment
from tastemaker.experiments.results import experiment_results
from tastemaker.experiments.store import EXPERIMENTS_DIR, ExperimentStore, check_model_versions
from tastemaker.registry.registry import ModelRegistry
from tastemaker.serving.deps import RawBody, Scoped, WorkspaceDep
from tastemaker.serving.responses import ExperimentList, error_responses

router = APIRouter(
    prefix="/v1/experiments",
    tags=["experiments"],
    dependencies=[Scoped("admin")],
    responses=error_responses(401, 403, 422, 429),
)


def _store(ws: WorkspaceDep) -> ExperimentStore:
    return ExperimentStore(Path(ws.root) / EXPERIMENTS_DIR, check_seconds=0)


@router.get("", response_model=ExperimentList)
def list_experiments(ws: WorkspaceDep) -> ExperimentList:
    """Every valid definition, by key, and the files left out (invalid) with the reason."""
    store = _store(ws)
    return ExperimentList(experiments=store.list(), invalid=store.errors)


@router.get(
    "/{key}", response_model=Experiment, responses=error_responses(404, e404="no such experiment")
)
def get_experiment(key: str, ws: WorkspaceDep) -> Experiment:
    """One definition."""
    return _store(ws).get(key)


_BODY = {
    "requestBody": {
        "required": True,
        "description": "the definition (its key may be left out)",
        # the response models already put Experiment in the document's components
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Experiment"}}},
    }
}


def _definition(raw: bytes, key: str) -> dict[str, Any]:
    """The body as a JSON object (with the path's key when it names none).

    Raises:
        ValidationFailedError: not a JSON object, or a key other than the path's.
    """
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationFailedError(f"body: not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise ValidationFailedError("body: expected a JSON object (the definition)")
    if body.setdefault("key", key) != key:
        raise ValidationFailedError(f"body key '{body['key']}' differs from the path's '{key}'")
    return body


@router.put("/{key}", response_model=Experiment, openapi_extra=_BODY)
def put_experiment(key: str, ws: WorkspaceDep, raw: RawBody) -> Experiment:
    """Create or replace the definition ``key`` (the body's ``key`` may be left out)."""
    experiment = parse_experiment(_definition(raw, key), f"experiment '{key}'")
    check_model_versions(experiment, ModelRegistry(ws.settings.path(ws.settings.models_dir)))
    return _store(ws).put(experiment)


@router.post(
    "/{key}/stop",
    response_model=Experiment,
    responses=error_responses(404, e404="no such experiment"),
)
def stop_experiment(key: str, ws: WorkspaceDep) -> Experiment:
    """Stop the experiment: its users return to the usual serving (exposures stay)."""
    return _store(ws).stop(key)


class SampleRatio(BaseModel):
    """The sample-ratio-mismatch check: users per variant against the declared weights."""

    observed: dict[str, int]
    expected: dict[str, float]
    statistic: float
    p_value: float
    threshold: float
    mismatch: bool


class MetricOutcome(BaseModel):
    """One metric, one treatment against control (null where not defined)."""

    metric: str
    role: str = Field(description="primary, secondary or guardrail")
    variant: str
    control_value: float | None
    value: float | None
    abs_diff: float | None
    abs_ci: list[float | None]
    rel_diff: float | None
    rel_ci: list[float | None]
    p_value: float | None
    test: str
    cuped: bool
    holm_p: float | None = Field(description="Holm-adjusted p (secondary metrics)")
    guardrail: str | None = Field(description="pass, fail or inconclusive (guardrails)")
    sequential_p: float | None = Field(description="always-valid p-value")
    sequential_ci: list[float | None] = Field(
        description="always-valid confidence sequence of the difference, at this look"
    )
    note: str | None = Field(
        default=None, description="why the values are null (e.g. no data in the window)"
    )


class ExperimentResults(BaseModel):
    """An experiment's analysis on what the event log holds now."""

    experiment: str
    users: int = Field(description="units exposed")
    control: str
    alpha: float
    trustworthy: bool = Field(description="false when the sample ratio mismatch check failed")
    srm: SampleRatio
    results: list[MetricOutcome]


@router.get(
    "/{key}/results",
    response_model=ExperimentResults,
    responses=error_responses(404, e404="no such experiment"),
)
def experiment_results_route(
    key: str,
    ws: WorkspaceDep,
    alpha: Annotated[float, Query(gt=0, lt=1)] = 0.05,
    triggered: Annotated[bool, Query(description="only users in a segment when exposed")] = False,
    segment: Annotated[str | None, Query(max_length=200)] = None,
    device: Annotated[str | None, Query(max_length=200, description="only users on it")] = None,
) -> ExperimentResults:
    """Per variant and metric: value, difference with interval, p-values, verdicts, SRM."""
    folder = Path(ws.root) / EXPERIMENTS_DIR
    result, exposed = experiment_results(
        ws.store, _store(ws).get(key), metrics_folder=folder, alpha=alpha,
        triggered=triggered, segment=segment, device=device,
    )  # fmt: skip
    body = {"experiment": key, "users": exposed.height, **result.to_dict()}
    return ExperimentResults.model_validate(body)


class GroupOutcome(BaseModel):
    """The primary metric in one subgroup (a segment or a device)."""

    group: str
    users: int = Field(description="units exposed in the group")
    results: list[MetricOutcome]


class ExperimentBreakdown(BaseModel):
    """The primary metric per subgroup, largest groups first (not multiplicity-corrected)."""

    experiment: str
    by: Literal["segment", "device"]
    groups: list[GroupOutcome]


@router.get(
    "/{key}/breakdown",
    response_model=ExperimentBreakdown,
    responses=error_responses(404, e404="no such experiment"),
)
def experiment_breakdown_route(
    key: str, ws: WorkspaceDep, by: Literal["segment", "device"] = "segment"
) -> ExperimentBreakdown:
    """The primary metric per segment (membership when exposed) or per device."""
    folder = Path(ws.root) / EXPERIMENTS_DIR
    groups = breakdown(ws.store, _store(ws).get(key), by, metrics_folder=folder)
    body = {"experiment": key, "by": by, "groups": [g.to_dict() for g in groups]}
    return ExperimentBreakdown.model_validate(body)
