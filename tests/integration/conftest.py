"""Fixtures of the integration tests that start their own backends (never the shared ones)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tastemaker.bench.chaos_backends import ThrowawayPostgres


@pytest.fixture
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    """A PostgreSQL server of the test's own on a free port (skips when none can run)."""
    try:
        pg = ThrowawayPostgres()
    except (FileNotFoundError, subprocess.CalledProcessError, KeyError) as exc:
        pytest.skip(f"cannot run a throwaway PostgreSQL server: {exc}")
    try:
        pg.start()
        yield pg
    finally:
        pg.remove()
