"""`tastemaker segments versions|apply FILE|rollback [VERSION]|stats|quality`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from tastemaker.access import AuditLog, cli_actor
from tastemaker.cli.common import WorkspaceOpt, console, fail, opened
from tastemaker.errors import TastemakerError

if TYPE_CHECKING:
    import polars as pl

    from tastemaker.evaluation.segments import SegmentQuality

app = typer.Typer(help="Segment rules: versions, apply, rollback, stats, quality.",
                  no_args_is_help=True)  # fmt: skip


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


@app.command("versions")
def versions(workspace: WorkspaceOpt = Path(".")) -> None:
    """List stored rule versions; the active one is marked."""
    with opened(workspace) as ws:
        active = ws.profiles.rules.active_version()
        table = Table(title="segment rule versions")
        table.add_column("ver", justify="right")
        table.add_column("on")
        table.add_column("created", no_wrap=True)
        table.add_column("segments", overflow="fold", ratio=2)
        table.add_column("note", overflow="fold", ratio=1)
        for v in ws.store.segment_versions():
            rules = ws.profiles.rules.parse(v.text, f"v{v.version}")
            table.add_row(str(v.version), "*" if v.version == active else "", _when(v.created_at),
                          ", ".join(rules.segments), v.note or "")  # fmt: skip
        console.print(table)


@app.command("apply")
def apply(
    path: Annotated[Path, typer.Argument(help="Segment rules YAML file.")],
    workspace: WorkspaceOpt = Path("."),
    note: Annotated[str | None, typer.Option(help="Why this change.")] = None,
) -> None:
    """Validate a rules file and make it the active version (running processes follow)."""
    if not path.is_file():
        raise fail(f"{path} does not exist")
    with opened(workspace) as ws:
        audit = AuditLog(ws.store)
        try:
            version = ws.profiles.rules.apply_text(path.read_text(), path.name, note)
        except TastemakerError as exc:
            audit.record(cli_actor(), "segments apply", path.name, "error", error=exc.message)
            raise fail(f"refused, the active version stays: {exc.message}") from exc
        audit.record(cli_actor(), "segments apply", path.name, "ok", version=version)
        sizes = ws.profiles.reevaluate_all()
        console.print(f"version {version} is active; members: {json.dumps(sizes)}")


@app.command("rollback")
def rollback(
    version: Annotated[int | None, typer.Argument(help="Version (default: the previous).")] = None,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Make an earlier version active again."""
    with opened(workspace) as ws:
        audit = AuditLog(ws.store)
        target = None if version is None else str(version)
        try:
            active = ws.profiles.rules.rollback(version)
        except TastemakerError as exc:
            audit.record(cli_actor(), "segments rollback", target, "error", error=exc.message)
            raise fail(exc.message) from exc
        audit.record(cli_actor(), "segments rollback", target, "ok", version=active)
        sizes = ws.profiles.reevaluate_all()
        console.print(f"version {active} is active; members: {json.dumps(sizes)}")


@app.command("stats")
def stats(
    workspace: WorkspaceOpt = Path("."),
    record: Annotated[bool, typer.Option(help="Record the current sizes.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Size of each segment now and at every recorded point in time."""
    with opened(workspace) as ws:
        sizes = ws.profiles.record_stats() if record else ws.profiles.segment_sizes()
        history = ws.store.segment_stats()
        if as_json:
            rows = history.with_columns(history["at"].dt.to_string("%Y-%m-%dT%H:%M:%SZ"))
            console.print_json(json.dumps({"current": sizes, "history": rows.to_dicts()}))
            return
        console.print(stats_table(history))
        console.print(f"now: {json.dumps(sizes)}")


def stats_table(history: pl.DataFrame) -> Table:
    """One row per recorded time, the sizes folded into one column (readable at 80 columns)."""
    table = Table(title="segment sizes over time")
    table.add_column("at (UTC)", no_wrap=True)
    table.add_column("members per segment", overflow="fold")
    for (at,), part in history.group_by("at", maintain_order=True):
        sizes = {}
        for segment, members in part.select("segment", "members").iter_rows():
            sizes[segment] = members  # the last record at a time wins
        cells = "  ".join(f"{name} {count:,}" for name, count in sizes.items())
        table.add_row(f"{at:%Y-%m-%d %H:%M:%S}", cells)
    return table


def quality_table(report: list[SegmentQuality], title: str) -> Table:
    """Precision/recall per segment with short headers, so 80 columns hold every column."""
    table = Table(title=title, caption="P/R: precision/recall on the period; truth: vs labels")
    table.add_column("segment", overflow="fold")
    for col in ("members", "views", "P", "R", "truth P", "truth R"):
        table.add_column(col, justify="right", no_wrap=True)
    fmt = lambda v: "" if v is None else f"{v:.3f}"  # noqa: E731
    for q in report:
        table.add_row(q.segment, f"{q.members:,}", f"{q.views_by_members:,}", fmt(q.precision),
                      fmt(q.recall), fmt(q.truth_precision), fmt(q.truth_recall))  # fmt: skip
    return table


@app.command("quality")
def quality(
    workspace: WorkspaceOpt = Path("."),
    split: Annotated[
        str | None, typer.Option(help="Membership as of this ISO time (default: see --days).")
    ] = None,
    days: Annotated[float, typer.Option(help="Length of the following period.")] = 7.0,
    truth: Annotated[
        Path | None, typer.Option(help="ground_truth.json of `tastemaker generate marketplace`.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Precision and recall of each segment on the period after the split (and vs truth)."""
    from tastemaker.evaluation.segments import segment_quality

    with opened(workspace) as ws:
        at = datetime.fromisoformat(split.replace("Z", "+00:00")) if split else None
        if at is not None and at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        gt = json.loads(truth.read_text()) if truth is not None else None
        try:
            used, report = segment_quality(ws, at, days, gt)
        except ValueError as exc:
            raise fail(str(exc)) from exc
        rows = [q.to_dict() for q in report]
        out = ws.settings.path(ws.settings.reports_dir) / "segment_quality.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        doc = {"split": used.isoformat(), "horizon_days": days, "segments": rows}
        out.write_text(json.dumps(doc, indent=1))
        if as_json:
            console.print_json(json.dumps(doc))
            return
        title = f"segment quality: membership at {used:%Y-%m-%d %H:%M}, next {days:g} days"
        console.print(quality_table(report, title))
        console.print(f"written to {out}")
