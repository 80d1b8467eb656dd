"""`tastemaker bench ...`: benchmarks that print JSON. Each benchmark lives in its own module."""

import typer

app = typer.Typer(help="Benchmarks: each prints one JSON document.", no_args_is_help=True)

# Registrations: one line per benchmark module.
from tastemaker.cli import bench_ingest  # noqa: E402

app.command("ingest")(bench_ingest.bench_ingest)
from tastemaker.cli import bench_generate  # noqa: E402

app.command("generate")(bench_generate.bench_generate)
from tastemaker.cli import bench_accuracy  # noqa: E402

app.command("accuracy")(bench_accuracy.bench_accuracy)
from tastemaker.cli import bench_train  # noqa: E402

app.command("train")(bench_train.bench_train)
from tastemaker.cli import bench_profiles  # noqa: E402

app.command("profiles")(bench_profiles.bench_profiles)
