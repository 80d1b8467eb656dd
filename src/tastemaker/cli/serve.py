"""`tastemaker serve`: run the REST API with uvicorn."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from tastemaker.cli.common import LogLevel, WorkspaceOpt, console, opened
from tastemaker.serving.main import WORKSPACE_ENV
from tastemaker.serving.metrics import fresh_multiprocess_dir


def serve(
    workspace: WorkspaceOpt = Path("."),
    host: Annotated[
        str | None, typer.Option(help="Interface to bind (default from config).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from config).")] = None,
    workers: Annotated[int, typer.Option(help="Server processes.")] = 1,
    log_level: Annotated[LogLevel, typer.Option(help="uvicorn log level.")] = LogLevel.warning,
) -> None:
    """Serve the API (OpenAPI docs at /docs).

    With ``--workers`` above 1 the processes share their metrics through a fresh folder
    (prometheus-client multiprocess mode), so ``/metrics`` counts every worker's requests.
    """
    with opened(workspace) as ws:
        settings = ws.settings
    host = host or settings.serving.host
    port = port or settings.serving.port
    os.environ[WORKSPACE_ENV] = str(settings.workspace)
    console.print(f"tastemaker API on http://{host}:{port} (docs: http://{host}:{port}/docs)")
    metrics_dir, made = fresh_multiprocess_dir() if workers > 1 else (None, False)
    try:
        uvicorn.run(
            "tastemaker.serving.main:app_factory",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level.value,
            access_log=False,
        )
    finally:
        if metrics_dir is not None and made:
            shutil.rmtree(metrics_dir, ignore_errors=True)
