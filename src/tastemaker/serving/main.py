"""Entry point for uvicorn: builds the app from the workspace named in the environment."""

from __future__ import annotations

import os

from fastapi import FastAPI

from tastemaker.process import ProcessTuning
from tastemaker.serving.app import create_app
from tastemaker.workspace import Workspace

WORKSPACE_ENV = "TASTEMAKER_WORKSPACE"


def app_factory() -> FastAPI:
    """Open the workspace in ``$TASTEMAKER_WORKSPACE`` (default: here) and build the app.

    This is a server process's entry point: it applies the process tuning of the
    workspace's settings (``process`` section). The model starts loading when the server
    starts, not on the first ``/readyz``.
    """
    ws = Workspace.open(os.environ.get(WORKSPACE_ENV, "."))
    ProcessTuning(ws.settings.process).apply()
    return create_app(ws, preload=True)
