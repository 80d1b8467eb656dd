"""The package layout holds: the data path in imports, small modules and functions."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "tastemaker"
#: Synthetic-data generators: long, flat tables of distributions (style guide exception).
GENERATORS = {"datasets/marketplace.py", "datasets/marketplace_catalog.py",
              "datasets/marketplace_sessions.py", "datasets/marketplace_users.py"}  # fmt: skip


def _layers() -> list[set[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["type"] == "layers"]
    return [
        {m.strip().removeprefix("tastemaker.") for m in layer.replace(":", "|").split("|")}
        for layer in contract["layers"]
    ]


def _rank(package: str) -> int:
    return next(i for i, layer in enumerate(_layers()) if package in layer)


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("models", "evaluation"),  # the hybrid's validation split
        ("profiles", "workspace"),  # profiles and workspace imported each other
        ("registry", "evaluation"),  # training inside the registry
        ("profiles", "bench"),  # benchmark code inside profiles/
        ("evaluation", "bench"),
        ("profiles", "engine"),  # the featured listing as a second pipeline in profiles/
        ("engine", "serving"),  # HTTP concerns inside the request pipeline
        ("models", "retrieval"),
        ("storage", "ingest"),
    ],
)
def test_the_layer_contract_forbids_each_backward_import(importer: str, imported: str) -> None:
    # lint-imports (in `make test`) enforces the contract; this checks the contract itself
    # still forbids the imports that once ran against the data path
    assert _rank(importer) > _rank(imported), f"{importer} may import {imported}"


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if p.is_file())


def test_no_module_over_400_lines() -> None:
    long = {
        str(p.relative_to(SRC)): n
        for p in _modules()
        if (n := len(p.read_text().splitlines())) > 400
        and str(p.relative_to(SRC)) not in GENERATORS
    }
    assert long == {}


def test_no_function_over_60_lines() -> None:
    long = []
    for path in _modules():
        rel = str(path.relative_to(SRC))
        if rel in GENERATORS:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                if n > 60:
                    long.append(f"{rel}:{node.lineno} {node.name} ({n} lines)")
    assert long == []
