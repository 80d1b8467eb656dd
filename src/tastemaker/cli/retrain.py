"""`tastemaker retrain`: guarded retraining from the command line."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tastemaker.cli.common import WorkspaceOpt, console, fail, opened
from tastemaker.errors import TastemakerError
from tastemaker.process import ProcessTuning


def _when(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise fail(f"--now '{text}' is not an ISO 8601 time (e.g. 2026-01-31T00:00:00Z)") from exc


def retrain(
    workspace: WorkspaceOpt = Path("."),
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Train and evaluate the candidate; never promote.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
    now: Annotated[
        str | None,
        typer.Option(help="End of the holdout, ISO 8601 (default: now); later events are ignored."),
    ] = None,
    reason: Annotated[str, typer.Option(help="Why, for the audit log.")] = "manual",
) -> None:
    """Retrain on the recent window and promote the candidate only if it is not worse.

    Trains a candidate on `retraining.window_days` of events ending where the holdout (the
    freshest `retraining.holdout_days`) begins, compares it with the live version on the
    holdout (the primary metric per user, a paired interval against `retraining.margin`),
    and promotes it (PROMOTE) or keeps the live version (KEEP) saying why; with nothing
    live, the first candidate is promoted. A live propensity model is retrained and guarded
    alike on its per-user loss (`retraining.propensity_metric`,
    `retraining.propensity_margin`), independently; without one that step is skipped, and
    with one but no live recommender the recommender step is skipped. The audit log records
    every retrain. Exit code 0 for any verdict.
    """
    from tastemaker.retraining.run import retrain as run_retrain

    at = _when(now)
    with opened(workspace) as ws:
        ProcessTuning(ws.settings.process).apply()  # one BLAS thread: fold-ins are small solves
        try:
            outcome = run_retrain(ws, at, reason, dry_run=dry_run)
        except TastemakerError as exc:
            raise fail(exc.message) from exc
    out = outcome.to_dict()
    if as_json:
        console.print_json(json.dumps(out))
        return
    _print_recommender(out)
    _print_propensity(out["propensity"], dry_run=outcome.dry_run)


def _print_recommender(o: dict[str, Any]) -> None:
    """The recommender step's verdict, figures and notes (the window alone when SKIPPED)."""
    w = o["window"]
    if o["guard"] is None:  # skipped: nothing trained, nothing compared
        console.print(f"recommender: [bold dim]{o['verdict']}[/bold dim]: {o['reason']}")
        console.print(f"training window: {w['start']} .. {w['end']} ({w['events']:,} events)")
        return
    colour = "green" if o["verdict"] == "PROMOTE" else "yellow"
    console.print(f"[bold {colour}]{o['verdict']}[/bold {colour}] {o['candidate']}: "
                  f"{o['reason']}")  # fmt: skip
    rows = [
        ("model", str(o["model"])),
        ("training window", f"{w['start']} .. {w['end']}"),
        ("training events", f"{w['events']:,}"),
        *_guard_rows(o["guard"]),
    ]
    title = f"candidate {o['candidate']} vs live {o['live']}"
    _print_step(o, title, rows, "", "models", dry_run=o["dry_run"])


def _guard_rows(g: dict[str, Any]) -> list[tuple[str, str]]:
    """The guard's figures as table rows (those it has)."""
    rows = [
        ("holdout", f"{g['holdout_start']} .. {g['holdout_end']}"),
        ("holdout users", f"{g['users']:,}"),
    ]
    for key, shown in (("live_value", "{:.4f}"), ("candidate_value", "{:.4f}"),
                       ("diff", "{:+.4f}"), ("low", "{:+.4f}"), ("high", "{:+.4f}"),
                       ("p_worse", "{:.3g}")):  # fmt: skip
        if g[key] is not None:
            rows.append((f"{g['metric']} {key}" if "value" in key else key, shown.format(g[key])))
    rows.append(("margin", f"{g['margin']:.4f}"))
    return rows


def _print_propensity(p: dict[str, Any], *, dry_run: bool) -> None:
    """The propensity step's verdict, figures and notes."""
    colour = {"PROMOTE": "green", "KEEP": "yellow"}.get(p["verdict"], "dim")
    name = f" {p['candidate']}" if p["candidate"] else ""
    console.print(f"propensity: [bold {colour}]{p['verdict']}[/bold {colour}]{name}: "
                  f"{p['reason']}")  # fmt: skip
    rows = None
    if p["guard"] is not None:
        rows = [
            ("model", str(p["model"])),
            ("training events", f"{p['train_events']:,}"),
            ("training examples", f"{p['train_examples']:,}"),
            *_guard_rows(p["guard"]),
        ]
    title = f"propensity {p['candidate']} vs live {p['live']}"
    _print_step(p, title, rows, "propensity ", "propensity", dry_run=dry_run)


def _print_step(
    o: dict[str, Any],
    title: str,
    rows: list[tuple[str, str]] | None,
    kind: str,
    command: str,
    *,
    dry_run: bool,
) -> None:
    """A step's figures (when it compared), notes, and what became of its candidate:
    promoted, or in a dry run the ``tastemaker <command> promote`` that would do it."""
    if rows is not None:
        table = Table("", "value", title=title)
        for key, value in rows:
            table.add_row(key, value)
        console.print(table)
    for note in o["notes"]:
        console.print(f"[yellow]note:[/yellow] {note}")
    if o["promoted"]:
        console.print(f"promoted {kind}{o['candidate']}")
    elif dry_run and o["verdict"] == "PROMOTE":
        console.print(f"dry run: promote it with `tastemaker {command} promote {o['candidate']}`")
