"""End-to-end fixtures: running the `tastemaker` command the way a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest


def run_tastemaker(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run `tastemaker ARGS` in ``cwd`` with a wide terminal and no colours."""
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    return subprocess.run(
        [sys.executable, "-m", "tastemaker", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


Tastemaker = Callable[..., subprocess.CompletedProcess[str]]

#: The test client's address as a client on this machine: a workspace made by the command
#: line answers requests without a key from loopback only.
LOOPBACK = ("127.0.0.1", 50000)


@pytest.fixture
def tm() -> Tastemaker:
    """`tm("import", "events", "f.csv", "-w", "shop", cwd=path)` runs the CLI."""
    return run_tastemaker
