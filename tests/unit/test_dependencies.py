"""Every runtime dependency pinned in pyproject.toml is imported by src, or says why not."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Runtime pins that src does not import by name, each with its reason.
NOT_IMPORTED = {
    "uvicorn": "run by `tastemaker serve` via its import string",
    "httptools": "uvicorn's HTTP parser",
    "uvloop": "uvicorn's event loop",
    "adbc-driver-manager": "loaded by polars' ADBC writer",
    "adbc-driver-sqlite": "loaded by polars' ADBC writer",
    "psycopg": "SQLAlchemy's PostgreSQL driver (postgresql+psycopg URLs)",
    "prometheus-client": "imported as prometheus_client",
    "pyyaml": "imported as yaml",
    "scikit-learn": "imported as sklearn",
    "faiss-cpu": "imported as faiss",
}


def _imported_top_levels() -> set[str]:
    names: set[str] = set()
    pattern = re.compile(r"^\s*(?:from|import)\s+([A-Za-z_][A-Za-z0-9_]*)", re.MULTILINE)
    for path in (ROOT / "src").rglob("*.py"):
        names.update(pattern.findall(path.read_text()))
    return names


def test_each_runtime_dependency_is_used_or_explained() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    imported = _imported_top_levels()
    unexplained = []
    for requirement in project["dependencies"]:
        name = re.split(r"[\[=<>~ ]", requirement, maxsplit=1)[0].lower()
        module = name.replace("-", "_")
        if module not in imported and name not in NOT_IMPORTED:
            unexplained.append(name)
    assert unexplained == []
