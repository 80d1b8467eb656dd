"""Root of the `tastemaker` command line: wires the command groups, one module each.

Each command's module is imported only when that command runs (see `cli/lazy.py`), so
`tastemaker import ...` does not pay for loading faiss or scikit-learn.
"""

from tastemaker.cli.lazy import lazy_typer

# Registrations: one line per command ("module:function") or group ("module:app").
COMMANDS = {
    "init": "tastemaker.cli.init:init",
    "doctor": "tastemaker.cli.init:doctor",
    "demo": "tastemaker.cli.demo:demo",
    "import": "tastemaker.cli.imports:app",
    "deadletters": "tastemaker.cli.deadletters:app",
    "export": "tastemaker.cli.export:app",
    "generate": "tastemaker.cli.generate:app",
    "dataset": "tastemaker.cli.dataset:app",
    "profiles": "tastemaker.cli.profiles:app",
    "segments": "tastemaker.cli.segments:app",
    "worker": "tastemaker.cli.worker:worker",
    "train": "tastemaker.cli.train:train",
    "tune": "tastemaker.cli.tune:tune_command",
    "evaluate": "tastemaker.cli.evaluate:evaluate",
    "models": "tastemaker.cli.models:app",
    "propensity": "tastemaker.cli.propensity:app",
    "serve": "tastemaker.cli.serve:serve",
    "bench": "tastemaker.cli.bench:app",
}

app = lazy_typer(
    COMMANDS,
    help="tastemaker: recommendation and personalization platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def main() -> None:
    """Run the command line."""
    app()
