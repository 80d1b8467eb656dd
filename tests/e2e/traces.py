"""Find ids at rest: in every table of a store, every file of a folder, every Redis key."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from sqlalchemy import select

from tastemaker.storage import tables as t
from tastemaker.storage.base import Store
from tastemaker.storage.bus import decode_columns, decode_frame


def _encodings(needle: str) -> list[bytes]:
    """How a string may sit in a file: UTF-8 text, or UTF-32 (numpy string arrays)."""
    return [needle.encode(), needle.encode("utf-32-le")]


def in_tables(store: Store, needles: set[str]) -> list[str]:
    """``table: needle`` for every table that holds a needle in any column (as text)."""
    found = []
    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        for table in t.metadata.sorted_tables:
            text = "\n".join(str(row) for row in conn.execute(select(table)))
            found += [f"{table.name}: {n}" for n in needles if n in text]
    return found


def in_files(root: Path, needles: set[str]) -> list[str]:
    """``file: needle`` for every file under ``root`` holding a needle (Parquet read as a
    table, since it is compressed)."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            text = pl.read_parquet(path).write_csv()
            found += [f"{path}: {n}" for n in needles if n in text]
            continue
        data = path.read_bytes()
        found += [f"{path}: {n}" for n in needles if any(e in data for e in _encodings(n))]
    return found


def _stream_fields(fields: dict[bytes, bytes]) -> bytes:
    """A stream entry as text: its events decoded (Arrow entries are LZ4-compressed)."""
    if b"a" in fields:
        return str(decode_frame(fields[b"a"])).encode()
    if b"e" in fields:
        return str(decode_columns(fields[b"e"])).encode()
    return b"".join(k + v for k, v in fields.items())


def in_redis(client: object, prefix: str, needles: set[str]) -> list[str]:
    """``key: needle`` for every Redis key under ``prefix`` whose name or value (strings,
    hashes, streams) holds a needle."""
    found = []
    for key in client.scan_iter(match=f"{prefix}*"):  # type: ignore[attr-defined]
        kind = client.type(key).decode()  # type: ignore[attr-defined]
        if kind == "string":
            blob = client.get(key)  # type: ignore[attr-defined]
        elif kind == "hash":
            blob = b"".join(k + v for k, v in client.hgetall(key).items())  # type: ignore[attr-defined]
        elif kind == "stream":
            entries = client.xrange(key)  # type: ignore[attr-defined]
            blob = b"".join(_stream_fields(f) for _, f in entries)
        else:
            blob = b""
        blob = key + blob
        found += [f"{key!r}: {n}" for n in needles if any(e in blob for e in _encodings(n))]
    return found
