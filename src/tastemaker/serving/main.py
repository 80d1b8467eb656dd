"""Entry point for uvicorn: builds the app from the workspace named in the environment."""

from __future__ import annotations

import os

from fastapi import FastAPI

from tastemaker.serving.app import create_app
from tastemaker.workspace import Workspace

WORKSPACE_ENV = "TASTEMAKER_WORKSPACE"


def app_factory() -> FastAPI:
    """Open the workspace in ``$TASTEMAKER_WORKSPACE`` (default: here) and build the app.

    The model starts loading when the server starts, not on the first ``/readyz``.
    """
    return create_app(Workspace.open(os.environ.get(WORKSPACE_ENV, ".")), preload=True)
