"""`tastemaker --help` lists every command without importing the heavy libraries."""

import os
import subprocess
import sys
from pathlib import Path

import tastemaker
from tastemaker.cli.app import COMMANDS
from tastemaker.cli.bench import BENCHMARKS
from tastemaker.cli.lazy import load_command

HEAVY = ("polars", "scipy", "matplotlib", "faiss", "fastapi", "sklearn")


def test_root_help_imports_no_heavy_library() -> None:
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from tastemaker.cli.app import app\n"
        "result = CliRunner().invoke(app, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(result.output)\n"
        f"print('HEAVY:', [m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    src = str(Path(tastemaker.__file__).parent.parent)
    env = {**os.environ, "PYTHONPATH": src, "COLUMNS": "120"}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "HEAVY: []" in out
    for name in COMMANDS:
        assert f" {name} " in out


def test_listed_help_matches_each_command() -> None:
    for name, (target, short_help) in {**COMMANDS, **BENCHMARKS}.items():
        real = load_command(name, target)
        assert real.get_short_help_str(limit=300) == short_help, name


def test_only_the_root_offers_completion_install() -> None:
    from typer.testing import CliRunner

    from tastemaker.cli.app import app

    for name in ("init", "train", "evaluate", "serve", "models", "segments"):
        result = CliRunner().invoke(app, [name, "--help"])
        assert result.exit_code == 0, result.output
        assert "--install-completion" not in result.output, name
    assert "--install-completion" in CliRunner().invoke(app, ["--help"]).output


def test_a_benchmark_still_resolves_and_shows_its_own_help() -> None:
    from typer.testing import CliRunner

    from tastemaker.cli.app import app

    result = CliRunner().invoke(app, ["bench", "generate", "--help"])
    assert result.exit_code == 0, result.output
    assert "--" in result.output and "peak RSS" in result.output
