"""Root of the `tastemaker` command line: wires the command groups, one module each."""

import typer

from tastemaker.cli import bench

app = typer.Typer(
    help="tastemaker: recommendation and personalization platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# Registrations: one line per command group.
app.add_typer(bench.app, name="bench")


def main() -> None:
    """Run the command line."""
    app()
