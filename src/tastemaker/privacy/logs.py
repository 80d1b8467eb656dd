"""Retention of the workspace's request logs: lines logged before a cut leave the files.

The shadow logs (``<reports>/shadow-<version>.jsonl``) hold one JSON line per request: its
time is the line's ``at`` (epoch ms), or, for lines written before ``at`` existed, the time
encoded in its ``request_id`` (13 hex digits of epoch microseconds, see
``tastemaker.engine.runtime.new_request_id``). A line with neither is kept. Impressions and
experiment exposures are events of the store's log: the event cut deletes them.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson

#: The request logs retention applies to (glob patterns under the reports folder).
LOG_PATTERNS = ("shadow-*.jsonl",)


def line_time_ms(line: bytes) -> int | None:
    """When a logged line was written (epoch ms), or None when it does not say."""
    try:
        row = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(row, dict):
        return None
    at = row.get("at")
    if isinstance(at, int):
        return at
    rid = row.get("request_id")
    if isinstance(rid, str) and len(rid) >= 13:
        try:
            return int(rid[:13], 16) // 1000
        except ValueError:
            return None
    return None


def expire_lines(path: Path, cut_ms: int, *, dry_run: bool = False) -> int:
    """Delete the lines of ``path`` logged before ``cut_ms`` (the file is rewritten beside
    itself and swapped in); return how many (counted only with ``dry_run``)."""
    lines = path.read_bytes().splitlines(keepends=True)
    kept = [x for x in lines if (t := line_time_ms(x)) is None or t >= cut_ms]
    gone = len(lines) - len(kept)
    if gone and not dry_run:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(b"".join(kept))
        os.replace(tmp, path)
    return gone


def expire_logs(folder: Path, root: Path, cut_ms: int, *, dry_run: bool = False) -> dict[str, int]:
    """`expire_lines` on every request log under ``folder``; lines deleted per file (path
    relative to ``root``), files with none left out."""
    out: dict[str, int] = {}
    if not folder.is_dir():
        return out
    for pattern in LOG_PATTERNS:
        for path in sorted(folder.glob(pattern)):
            n = expire_lines(path, cut_ms, dry_run=dry_run)
            if n:
                out[str(path.relative_to(root))] = n
    return out
