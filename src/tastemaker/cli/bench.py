"""`tastemaker bench ...`: benchmarks that print JSON. Each benchmark lives in its own module."""

from tastemaker.cli.lazy import lazy_typer

# Registrations: one line per benchmark, "module:function" imported when it runs.
BENCHMARKS = {
    "ingest": "tastemaker.cli.bench_ingest:bench_ingest",
    "generate": "tastemaker.cli.bench_generate:bench_generate",
    "accuracy": "tastemaker.cli.bench_accuracy:bench_accuracy",
    "train": "tastemaker.cli.bench_train:bench_train",
    "profiles": "tastemaker.cli.bench_profiles:bench_profiles",
    "serve": "tastemaker.cli.bench_serve:bench_serve",
    "propensity": "tastemaker.cli.bench_propensity:bench_propensity",
}

app = lazy_typer(BENCHMARKS, help="Benchmarks printing JSON.", no_args_is_help=True)
