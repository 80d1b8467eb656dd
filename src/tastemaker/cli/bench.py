"""`tastemaker bench ...`: benchmarks that print JSON. Each benchmark lives in its own module."""

from tastemaker.cli.lazy import LazyCommands, lazy_typer

# Registrations: one entry per benchmark, "module:function" imported when it runs, with the
# short help `tastemaker bench --help` lists without importing it (a test keeps them equal).
BENCHMARKS: LazyCommands = {
    "ingest": (
        "tastemaker.bench.ingest:bench_ingest",
        "Measure bulk import (Parquet -> store) and HTTP ingestion; print JSON.",
    ),
    "generate": (
        "tastemaker.bench.generate:bench_generate",
        "Generate the marketplace (demo size by default), write it to a temporary folder and"
        " print one JSON document: events, seconds, events/s and peak RSS.",
    ),
    "accuracy": (
        "tastemaker.bench.accuracy:bench_accuracy",
        "Accuracy on MovieLens (any release), Online Retail and the synthetic marketplace.",
    ),
    "train": (
        "tastemaker.bench.train:bench_train",
        "Speed bars: ALS vs implicit, top-10 for 10k users, EASE on 3k items, evaluate ML-100k.",
    ),
    "profiles": (
        "tastemaker.bench.profiles:bench_profiles",
        "Benchmark profiles and the featured listing; print one JSON document.",
    ),
    "serve": (
        "tastemaker.bench.serve:bench_serve",
        "Recommendation latency at a fixed rate, max throughput, overhead share, cold start.",
    ),
    "propensity": (
        "tastemaker.bench.propensity:bench_propensity",
        "Train (auto: LightGBM vs logistic) on a fresh workspace, then score users online.",
    ),
    "chaos": (
        "tastemaker.bench.chaos:bench_chaos",
        "Ingest + read load while Redis, PostgreSQL and a worker are paused and killed; counts"
        " events answered, stored, published and applied, and 5xx answers other than 503.",
    ),
    "mixed": (
        "tastemaker.bench.mixed:bench_mixed",
        "Ingest + recommendations + featured at a target rate on PostgreSQL and Redis (two API"
        " processes, two stream workers, keys on); errors, p50/p95/p99 and no event lost.",
    ),
    "simulate": (
        "tastemaker.bench.simulate:bench_simulate",
        "Simulated A/B tests over seeds: A/A false-positive rate, coverage of the true effect.",
    ),
}

app = lazy_typer(BENCHMARKS, help="Benchmarks printing JSON.", no_args_is_help=True)
