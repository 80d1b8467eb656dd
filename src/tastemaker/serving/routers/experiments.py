"""Experiment definitions over the API (admin): list, read, create or replace, stop.

The definitions are the workspace's ``experiments/<key>.yaml`` files (the same ones the
``tastemaker experiments`` command writes); running servers pick a change up within a
second. The body of ``PUT`` is the definition as JSON (``tastemaker.experiments.definition``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Body

from tastemaker.errors import ValidationFailedError
from tastemaker.experiments.definition import Experiment, parse_experiment
from tastemaker.experiments.store import EXPERIMENTS_DIR, ExperimentStore, check_model_versions
from tastemaker.registry.registry import ModelRegistry
from tastemaker.serving.deps import Authenticated, WorkspaceDep
from tastemaker.serving.responses import ExperimentList, error_responses

router = APIRouter(
    prefix="/v1/experiments",
    tags=["experiments"],
    dependencies=[Authenticated],
    responses=error_responses(401, 422),
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


@router.put("/{key}", response_model=Experiment)
def put_experiment(
    key: str, ws: WorkspaceDep, body: dict[str, Any] = Body(description="the definition")
) -> Experiment:
    """Create or replace the definition ``key`` (the body's ``key`` may be left out)."""
    if body.setdefault("key", key) != key:
        raise ValidationFailedError(f"body key '{body['key']}' differs from the path's '{key}'")
    experiment = parse_experiment(body, f"experiment '{key}'")
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
