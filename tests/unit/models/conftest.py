"""Fixtures of the model tests: the toy data set with known answers (see ``toydata``)."""

from __future__ import annotations

import pytest
from tests.unit.models.toydata import Toy, build_toy


@pytest.fixture(scope="session")
def toy() -> Toy:
    """The toy data set (built once)."""
    return build_toy()
