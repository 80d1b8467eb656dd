"""`tastemaker worker --jobs-only`: runs the periodic jobs, stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from tests.e2e.conftest import Tastemaker


def test_jobs_only_runs_the_retrain_job_and_stops_on_sigterm(
    tmp_path: Path, tm: Tastemaker
) -> None:
    assert tm("init", "shop", cwd=tmp_path).returncode == 0
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tastemaker", "worker", "--jobs-only", "-w", "shop"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines = []
    killer = threading.Timer(120, proc.kill)  # a hung worker fails the test, never hangs it
    killer.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # ends early if the process does
            lines.append(line)
            if line.startswith("job retrain:"):
                break
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        killer.cancel()
        if proc.poll() is None:
            proc.kill()
    text = "".join(lines) + out
    assert "runs jobs only: monitor every 3600 s, retrain every 600 s, rebalance" in text, err
    assert "job retrain: ok: not due: no live version to guard" in text
    assert text.rstrip().endswith("stopped") and proc.returncode == 0
