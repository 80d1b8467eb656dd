"""`tastemaker monitor`: drift of served traffic, online metrics and the alert log."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from tastemaker.cli.common import WorkspaceOpt, console, opened

if TYPE_CHECKING:  # the heavy modules load when a command runs
    from tastemaker.monitoring.checks import MonitorResult

app = typer.Typer(
    help="Drift of served traffic against the model's reference, online metrics, alerts.",
    invoke_without_command=True,
)

_JSON = typer.Option("--json", help="Print JSON instead of a table.")
_DAYS = typer.Option(help="Window in days (default: the monitoring settings).")


def _f(x: object) -> str:
    if not isinstance(x, (int, float)) or x != x:  # None or NaN
        return "-"
    return f"{x:.2e}" if x != 0 and abs(x) < 1e-3 else f"{x:.4g}"


@app.callback()
def check(
    ctx: typer.Context,
    workspace: WorkspaceOpt = Path("."),
    version: Annotated[
        str | None, typer.Option(help="Model version checked (default: the active one).")
    ] = None,
    days: Annotated[float | None, _DAYS] = None,
    as_json: Annotated[bool, _JSON] = False,
    report: Annotated[
        Path | None, typer.Option(help="Also write the HTML report (with plots) to this file.")
    ] = None,
    no_alerts: Annotated[
        bool, typer.Option("--no-alerts", help="Check only: write no alert rows.")
    ] = False,
) -> None:
    """Drift of served traffic against the model's reference, online metrics, alerts.

    Without a sub-command: compare the last window of served lists of the active version
    with its reference (PSI and Kolmogorov-Smirnov for numeric features, PSI and
    chi-square for categorical ones), compute online metrics and their drops, and write an
    alert for each drifted feature and each drop. Exit code 1 when something drifted or
    dropped.
    """
    if ctx.invoked_subcommand is not None:
        return
    from tastemaker.monitoring.checks import run_monitor
    from tastemaker.monitoring.workspace_report import write_workspace_report

    with opened(workspace) as ws:
        result = run_monitor(ws, version, days, record=not no_alerts)
        if report is not None:
            write_workspace_report(ws, result, report)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), default=str))
    else:
        _print_result(result)
        if report is not None:
            console.print(f"report: {report}")
    if result.alarming:
        raise typer.Exit(1)


def _print_result(result: MonitorResult) -> None:
    drift = result.drift
    if drift is None:
        console.print(f"no drift check: {result.drift_error}")
    else:
        verdict = "[red]DRIFT[/red]" if drift.drifted else "no drift"
        if not drift.enough:
            verdict += f" (< {drift.min_samples} served items: no verdict on served features)"
        if drift.engaged is not None and not drift.engaged_enough:
            verdict += f" (< {drift.min_samples} engagements: no verdict on engaged features)"
        engaged = "" if drift.engaged is None else f"; {drift.engaged} engagements"
        table = Table(title=f"drift of {drift.version}: {drift.lists} lists; {drift.items} items "
                      f"served to users with a history, {drift.cold_items} to users without "
                      f"(not compared){engaged}: {verdict}")  # fmt: skip
        for col in ("feature", "kind", "n", "PSI", "test", "statistic", "p", "ref mean",
                    "served mean", "drifted"):  # fmt: skip
            table.add_column(col)
        for f in drift.features:
            table.add_row(f.feature, f.kind, str(f.n), _f(f.psi), f.test, _f(f.statistic),
                          _f(f.p_value), _f(f.reference_mean), _f(f.current_mean),
                          "[red]yes[/red]" if f.drifted else "no")  # fmt: skip
        console.print(table)
    for d in result.drops:
        console.print(f"[red]metric drop[/red] {d.subject} on {d.day}: {d.rate:.4f} vs "
                      f"{d.baseline:.4f} before (p = {d.p_value:.2e})")  # fmt: skip
    console.print(f"{len(result.alerts)} alert(s) written")


@app.command("online")
def online(
    workspace: WorkspaceOpt = Path("."),
    days: Annotated[float | None, _DAYS] = None,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Click-through and conversion per day, per model version and per experiment variant."""
    from tastemaker.monitoring.online import online_metrics

    with opened(workspace) as ws:
        rows = online_metrics(ws, days)
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in rows]))
        return
    table = Table(title=f"online metrics: {len(rows)} rows")
    for col in ("day", "version / variant", "impressions", "clicks", "CTR", "conversions",
                "conversion"):  # fmt: skip
        table.add_column(col)
    for r in rows:
        table.add_row(r.day, r.series, str(r.impressions), str(r.clicks), _f(r.ctr),
                      str(r.conversions), _f(r.conversion))  # fmt: skip
    console.print(table)


@app.command("alerts")
def alerts(
    workspace: WorkspaceOpt = Path("."),
    days: Annotated[float, typer.Option(help="Alerts of the last this many days.")] = 30.0,
    kind: Annotated[str | None, typer.Option(help="Only this kind: drift or metric_drop.")] = None,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """The alert log: drift and metric drops found by `tastemaker monitor`, oldest first."""
    import time

    from tastemaker.monitoring.alerts import AlertLog

    with opened(workspace) as ws:
        found = AlertLog(ws.store).since(time.time() - days * 86_400, kind)
    if as_json:
        typer.echo(json.dumps([a.to_dict() for a in found]))
        return
    table = Table(title=f"{len(found)} alerts")
    for col in ("seq", "time (UTC)", "kind", "subject", "version", "detail"):
        table.add_column(col)
    for a in found:
        at = datetime.fromtimestamp(a.ts, UTC).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(str(a.seq), at, a.kind, a.subject, a.version or "-",
                      json.dumps(a.detail, default=str)[:80])  # fmt: skip
    console.print(table)
