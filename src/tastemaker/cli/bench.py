"""`tastemaker bench ...`: benchmarks that print JSON. Each benchmark lives in its own module."""

from tastemaker.cli.lazy import lazy_typer

# Registrations: one line per benchmark, "module:function" imported when it runs.
BENCHMARKS = {
    "ingest": "tastemaker.bench.ingest:bench_ingest",
    "generate": "tastemaker.bench.generate:bench_generate",
    "accuracy": "tastemaker.bench.accuracy:bench_accuracy",
    "train": "tastemaker.bench.train:bench_train",
    "profiles": "tastemaker.bench.profiles:bench_profiles",
    "serve": "tastemaker.bench.serve:bench_serve",
    "propensity": "tastemaker.bench.propensity:bench_propensity",
    "chaos": "tastemaker.bench.chaos:bench_chaos",
}

app = lazy_typer(BENCHMARKS, help="Benchmarks printing JSON.", no_args_is_help=True)
