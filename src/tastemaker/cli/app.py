"""Root of the `tastemaker` command line: wires the command groups, one module each.

Each command's module is imported only when that command runs (see `cli/lazy.py`), so
`tastemaker import ...` does not pay for loading faiss or scikit-learn.
"""

from tastemaker.cli.lazy import LazyCommands, lazy_typer

# Registrations: one entry per command ("module:function") or group ("module:app"), with
# the short help the root help lists without importing the module (a test keeps them equal).
COMMANDS: LazyCommands = {
    "init": (
        "tastemaker.cli.init:init",
        "Create a workspace: config file, database and a fresh pseudonymization key (mode 0600).",
    ),
    "doctor": (
        "tastemaker.cli.init:doctor",
        "Check a workspace: schema version, row counts and events naming unknown items.",
    ),
    "demo": (
        "tastemaker.cli.demo:demo",
        "Create a workspace, generate the synthetic marketplace, import it, train and evaluate.",
    ),
    "import": (
        "tastemaker.cli.imports:app",
        "Import events, items or users from CSV, JSON Lines or Parquet.",
    ),
    "deadletters": ("tastemaker.cli.deadletters:app", "Inspect and replay refused rows."),
    "export": ("tastemaker.cli.export:app", "Export data for batch engines (Spark, DuckDB)."),
    "generate": ("tastemaker.cli.generate:app", "Generate synthetic data sets."),
    "dataset": ("tastemaker.cli.dataset:app", "Import public data sets into a workspace."),
    "profiles": ("tastemaker.cli.profiles:app", "Real-time user profiles."),
    "segments": (
        "tastemaker.cli.segments:app",
        "Segment rules: versions, apply, rollback, stats, quality.",
    ),
    "worker": (
        "tastemaker.cli.worker:worker",
        "Consume accepted events (bus.type: redis) and keep profiles and segments current.",
    ),
    "train": (
        "tastemaker.cli.train:train",
        "Train on every event, evaluate on a temporal holdout, write a new model version.",
    ),
    "retrain": (
        "tastemaker.cli.retrain:retrain",
        "Retrain on the recent window and promote the candidate only if it is not worse.",
    ),
    "tune": (
        "tastemaker.cli.tune:tune_command",
        "Tune a model's hyperparameters on validation carved from the training part only.",
    ),
    "evaluate": (
        "tastemaker.cli.evaluate:evaluate",
        "Split, train every model, print the metric table and write an HTML report.",
    ),
    "models": (
        "tastemaker.cli.models:app",
        "Model versions: list, inspect, promote, roll back, canary, shadow.",
    ),
    "experiments": (
        "tastemaker.cli.experiments:app",
        "A/B experiments: create, list, show, stop, analyze, rebalance, power.",
    ),
    "propensity": (
        "tastemaker.cli.propensity:app",
        "Purchase propensity: train and evaluate, version, score.",
    ),
    "simulate": (
        "tastemaker.cli.simulate:app",
        "Simulated experiments with known ground truth.",
    ),
    "keys": (
        "tastemaker.cli.keys:app",
        "API keys with scopes (ingest, read, admin): create (shown once), list, revoke.",
    ),
    "forget": (
        "tastemaker.cli.forget:forget",
        "Forget a user everywhere (events, profile, logs, model rows) and print the receipt.",
    ),
    "retention": (
        "tastemaker.cli.retention:retention",
        "Delete events older than privacy.retention_days and print the receipt.",
    ),
    "consent": (
        "tastemaker.cli.retention:consent",
        "Show or change a user's opt-out of personalization.",
    ),
    "audit": (
        "tastemaker.cli.audit:audit",
        "The audit log: every admin action and deletion, who, what, when, outcome.",
    ),
    "monitor": (
        "tastemaker.cli.monitor:app",
        "Drift of served traffic against the model's reference, online metrics, alerts.",
    ),
    "serve": ("tastemaker.cli.serve:serve", "Serve the API (OpenAPI docs at /docs)."),
    "bench": ("tastemaker.cli.bench:app", "Benchmarks printing JSON."),
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
