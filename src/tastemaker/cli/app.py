"""Root of the `tastemaker` command line: wires the command groups, one module each."""

import typer

from tastemaker.cli import bench, deadletters, demo, export, generate, imports, init, serve
from tastemaker.cli import models as models_cli
from tastemaker.cli import profiles as profiles_cli
from tastemaker.cli import segments as segments_cli
from tastemaker.cli import train as train_cli
from tastemaker.cli import dataset as dataset_cli
from tastemaker.cli import evaluate as evaluate_cli
from tastemaker.cli import tune as tune_cli
from tastemaker.cli import worker as worker_cli

app = typer.Typer(
    help="tastemaker: recommendation and personalization platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# Registrations: one line per command or command group.
app.command("init")(init.init)
app.command("doctor")(init.doctor)
app.command("demo")(demo.demo)
app.add_typer(imports.app, name="import")
app.add_typer(deadletters.app, name="deadletters")
app.add_typer(export.app, name="export")
app.command("serve")(serve.serve)
app.add_typer(bench.app, name="bench")
app.command("tune")(tune_cli.tune_command)
app.command("evaluate")(evaluate_cli.evaluate)
app.add_typer(dataset_cli.app, name="dataset")
app.add_typer(generate.app, name="generate")
app.add_typer(profiles_cli.app, name="profiles")
app.add_typer(segments_cli.app, name="segments")
app.command("worker")(worker_cli.worker)
app.command("train")(train_cli.train)
app.add_typer(models_cli.app, name="models")


def main() -> None:
    """Run the command line."""
    app()
