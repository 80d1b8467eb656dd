"""Erase users from the workspace's data files: logs (JSON Lines), JSON documents and tables
(Parquet, CSV, RecBole ``.inter``) such as imported data, exported splits and shadow logs.

A JSON Lines file loses every line holding one of the ids as a JSON string; a table loses
every row whose ``user_id`` or ``anonymous_id`` column (RecBole: ``user_id:token``) holds
one. Files are
rewritten beside themselves and swapped in. The store's database, the model registry (see
:mod:`tastemaker.privacy.artifacts`) and the workspace's keys are not data files.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import polars as pl

SKIP_DIRS = {"models", ".git"}
_TABLES = {".parquet", ".csv", ".inter"}
#: pseudonymizes the named string columns of a frame (the workspace's pseudonymizer)
Pseudonymize = Callable[[pl.DataFrame, tuple[str, ...]], pl.DataFrame]
_ID_COLUMNS = ("user_id", "anonymous_id", "user_id:token")


def data_files(root: Path) -> Iterator[Path]:
    """The workspace's JSON Lines and table files, outside the model registry."""
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).parts
        if not path.is_file() or rel[0] in SKIP_DIRS or path.name.startswith("."):
            continue
        if path.suffix in (".jsonl", ".json") or path.suffix in _TABLES:
            yield path


def _swap(path: Path, write: pl.DataFrame | list[bytes]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if isinstance(write, list):
        tmp.write_bytes(b"".join(write))
    elif path.suffix == ".parquet":
        write.write_parquet(tmp)
    else:
        write.write_csv(tmp, separator="\t" if path.suffix == ".inter" else ",")
    os.replace(tmp, path)


def _erase_lines(path: Path, needles: list[bytes]) -> int:
    lines = path.read_bytes().splitlines(keepends=True)
    kept = [line for line in lines if not any(n in line for n in needles)]
    if len(kept) != len(lines):
        _swap(path, kept)
    return len(lines) - len(kept)


def _read_table(path: Path) -> pl.DataFrame:
    if path.suffix == ".parquet":
        return pl.read_parquet(path)
    sep = "\t" if path.suffix == ".inter" else ","
    return pl.read_csv(path, separator=sep, infer_schema=False)


def _erase_rows(path: Path, ids: list[str], pseudonymize: Pseudonymize) -> int:
    try:
        frame = _read_table(path)
    except Exception:  # not a table after all (a stray .csv): leave it, the scan reports it
        return 0
    columns = [c for c in _ID_COLUMNS if c in frame.columns]
    if not columns:
        return 0
    ids_frame = frame.select(pl.col(c).cast(pl.String) for c in columns)
    mapped = pseudonymize(ids_frame, tuple(columns))  # a file of raw ids: match pseudonyms
    hit = pl.any_horizontal(
        *(ids_frame[c].is_in(ids) for c in columns), *(mapped[c].is_in(ids) for c in columns)
    )
    kept = frame.filter(~hit.fill_null(False))
    if kept.height != frame.height:
        _swap(path, kept)
    return frame.height - kept.height


def _scrub(node: Any, ids: set[str]) -> tuple[Any, int]:
    """``node`` without dict entries keyed by an id or holding one, nor list items that are
    one; and how many went."""
    if isinstance(node, dict):
        out, n = {}, 0
        for k, v in node.items():
            if k in ids or (isinstance(v, str) and v in ids):
                n += 1
                continue
            out[k], m = _scrub(v, ids)
            n += m
        return out, n
    if isinstance(node, list):
        items, n = [], 0
        for v in node:
            if isinstance(v, str) and v in ids:
                n += 1
                continue
            kept, m = _scrub(v, ids)
            items.append(kept)
            n += m
        return items, n
    return node, 0


def _erase_json(path: Path, ids: set[str]) -> int:
    try:
        document = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError:
        return 0
    scrubbed, n = _scrub(document, ids)
    if n:
        _swap(path, [orjson.dumps(scrubbed, option=orjson.OPT_INDENT_2)])
    return n


def erase_from_files(root: Path, ids: set[str], pseudonymize: Pseudonymize) -> dict[str, int]:
    """Erase every line, row or JSON entry holding one of ``ids`` (raw and pseudonymized;
    a table's raw ids are pseudonymized with ``pseudonymize`` to compare) from the data
    files under ``root``; return what was erased per file (relative path)."""
    out: dict[str, int] = {}
    needles = [b'"' + i.encode() + b'"' for i in ids]  # a whole JSON string, not a part
    for path in data_files(root):
        if path.suffix == ".jsonl":
            n = _erase_lines(path, needles)
        elif path.suffix == ".json":
            n = _erase_json(path, ids)
        else:
            n = _erase_rows(path, list(ids), pseudonymize)
        if n:
            out[str(path.relative_to(root))] = n
    return out
