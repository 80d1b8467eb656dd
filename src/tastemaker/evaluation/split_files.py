"""Splits to and from files, so another library can be compared on identical data.

:func:`export_split` writes a split twice over in one folder:

* ``train``, ``valid`` and ``test`` as Parquet (or CSV) with ``user_id``, ``item_id``,
  ``timestamp``, ``weight`` (and ``session_id`` when any event has one), plus
  ``split.json``: the kind, seed, counts and both vocabularies in index order, so an
  import rebuilds the very same :class:`Split`;
* RecBole's benchmark files ``<name>.train.inter``, ``<name>.valid.inter`` and
  ``<name>.test.inter`` (tab-separated, header ``user_id:token item_id:token
  timestamp:float``, timestamps in epoch seconds with millisecond decimals; a
  ``weight:float`` column is added only when some weight is not 1).

:func:`read_split` reads either form (tastemaker's files first when both are there), or
train / valid / test files written by anyone. Numeric timestamps below ``1e11`` are epoch
seconds, larger ones epoch milliseconds.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import polars as pl

from tastemaker.errors import ValidationFailedError
from tastemaker.evaluation.splits import Split
from tastemaker.models.interactions import LOG_SCHEMA, Interactions
from tastemaker.models.vocab import Vocabulary

PARTS = ("train", "valid", "test")
MANIFEST = "split.json"
FileFormat = Literal["parquet", "csv"]
_SECONDS_BELOW = 1e11


def export_split(
    split: Split, folder: Path, *, fmt: FileFormat = "parquet", name: str = "split"
) -> list[Path]:
    """Write ``split`` into ``folder`` as tastemaker files and RecBole atomic files.

    Args:
        split: the split to write (an empty validation part is written when it has none).
        folder: created when missing; existing files of the same names are replaced.
        fmt: ``parquet`` or ``csv`` for the tastemaker files.
        name: the RecBole data set name (``<name>.train.inter`` ...).

    Returns:
        The paths written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for part, inter in zip(PARTS, _parts(split), strict=True):
        frame = _frame(inter, split)
        path = folder / f"{part}.{fmt}"
        if fmt == "parquet":
            frame.write_parquet(path)
        else:
            iso = pl.col("timestamp").dt.to_string("%Y-%m-%dT%H:%M:%S%.3f%:z")
            frame.with_columns(iso).write_csv(path)
        written.append(path)
        inter_path = folder / f"{name}.{part}.inter"
        _recbole_frame(frame, split).write_csv(inter_path, separator="\t")
        written.append(inter_path)
    manifest = folder / MANIFEST
    manifest.write_text(json.dumps(_manifest(split, fmt, name), indent=1))
    return [*written, manifest]


def read_split(folder: Path) -> Split:
    """Read a split written by :func:`export_split`, by hand, or RecBole's benchmark files.

    Looks for ``train.parquet`` / ``train.csv`` (with ``valid`` optional and ``test``),
    else ``*.train.inter`` (with ``*.valid.inter`` optional and ``*.test.inter``).
    Without ``split.json`` the vocabularies are the ids in first-seen order over train,
    validation and test.

    Raises:
        ValidationFailedError: no split files in ``folder``, a missing part, a missing
            column, or an id the manifest does not know.
    """
    frames = _read_frames(folder)
    meta = json.loads((folder / MANIFEST).read_text()) if (folder / MANIFEST).is_file() else {}
    every = pl.concat([f.select("user_id", "item_id") for f in frames.values()])
    users = Vocabulary(meta["users"]) if meta else Vocabulary.from_values(every["user_id"])
    items = Vocabulary(meta["items"]) if meta else Vocabulary.from_values(every["item_id"])
    parts = {p: _interactions(f, users, items, folder / p) for p, f in frames.items()}
    valid = parts.get("valid")
    cutoff = meta.get("cutoff")
    return Split(
        parts["train"],
        parts["test"],
        valid if valid is not None and valid.log.height else None,
        kind=meta.get("kind", "from-files"),
        cutoff=datetime.fromisoformat(cutoff) if cutoff else None,
        seed=meta.get("seed"),
        dropped_users=int(meta.get("dropped_users", 0)),
        source=str(folder),
        options=dict(meta.get("options", {})),
    )


def _parts(split: Split) -> tuple[Interactions, Interactions, Interactions]:
    empty = split.train.with_log(split.train.log.clear())
    valid = split.validation if split.validation is not None else empty
    return split.train, valid, split.test


def _frame(inter: Interactions, split: Split) -> pl.DataFrame:
    """The log with external ids: user_id, item_id, timestamp, weight (+ session_id)."""
    log = inter.log
    frame = pl.DataFrame(
        {
            "user_id": pl.Series(inter.users.decode(log["user"].to_numpy()), dtype=pl.String),
            "item_id": pl.Series(inter.items.decode(log["item"].to_numpy()), dtype=pl.String),
            "timestamp": log["timestamp"],
            "weight": log["weight"],
        }
    )
    if _has_sessions(split):
        frame = frame.with_columns(log["session"].alias("session_id"))
    return frame


def _has_sessions(split: Split) -> bool:
    return any(p.log["session"].null_count() < p.log.height for p in _parts(split))


def _recbole_frame(frame: pl.DataFrame, split: Split) -> pl.DataFrame:
    """RecBole's atomic-file columns (``name:type`` headers), seconds with ms decimals."""
    ms = pl.col("timestamp").dt.epoch("ms")
    seconds = ms.floordiv(1000).cast(pl.String) + "." + ms.mod(1000).cast(pl.String).str.zfill(3)
    cols = [
        pl.col("user_id").alias("user_id:token"),
        pl.col("item_id").alias("item_id:token"),
        seconds.alias("timestamp:float"),
    ]
    if any((p.log["weight"] != 1.0).any() for p in _parts(split)):
        cols.append(pl.col("weight").alias("weight:float"))
    if "session_id" in frame.columns:
        cols.append(pl.col("session_id").alias("session_id:token"))
    return frame.select(cols)


def _manifest(split: Split, fmt: str, name: str) -> dict[str, Any]:
    return {
        "kind": split.kind,
        "description": split.describe(),
        "seed": split.seed,
        "cutoff": split.cutoff.isoformat() if split.cutoff else None,
        "dropped_users": split.dropped_users,
        "options": split.options,
        "format": fmt,
        "recbole_name": name,
        "users": split.train.users.ids.tolist(),
        "items": split.train.items.ids.tolist(),
    }


def _read_frames(folder: Path) -> dict[str, pl.DataFrame]:
    """The parts found in ``folder`` as frames with tastemaker's column names."""
    for ext in ("parquet", "csv"):
        if (folder / f"train.{ext}").is_file():
            paths = {p: folder / f"{p}.{ext}" for p in PARTS}
            return {p: _read_table(path) for p, path in paths.items() if _needed(p, path)}
    trains = sorted(folder.glob("*.train.inter"))
    if trains:
        stem = trains[0].name.removesuffix(".train.inter")
        paths = {p: folder / f"{stem}.{p}.inter" for p in PARTS}
        return {p: _read_inter(path) for p, path in paths.items() if _needed(p, path)}
    raise ValidationFailedError(
        f"no split files in {folder}: expected train/valid/test .parquet or .csv, or RecBole's"
        " <name>.train.inter, <name>.valid.inter and <name>.test.inter",
        field="split_from",
    )


def _needed(part: str, path: Path) -> bool:
    """Whether to read ``path``: train and test must exist, validation may not."""
    if path.is_file():
        return True
    if part == "valid":
        return False
    raise ValidationFailedError(f"split file {path} is missing", field="split_from")


def _read_table(path: Path) -> pl.DataFrame:
    if path.suffix == ".parquet":
        return pl.read_parquet(path)
    ids = {"user_id": pl.String, "item_id": pl.String, "session_id": pl.String}
    return pl.read_csv(path, schema_overrides=ids, infer_schema_length=10000)


def _read_inter(path: Path) -> pl.DataFrame:
    """A RecBole atomic file: ``name:type`` headers; ``token`` columns read as text."""
    head = path.read_text(encoding="utf-8").split("\n", 1)[0].split("\t")
    types = {h: pl.String if h.endswith((":token", ":token_seq")) else pl.Float64 for h in head}
    frame = pl.read_csv(path, separator="\t", schema_overrides=types, quote_char=None)
    return frame.rename({h: h.split(":", 1)[0] for h in head})


def _interactions(
    frame: pl.DataFrame, users: Vocabulary, items: Vocabulary, where: Path
) -> Interactions:
    """The frame as interactions over ``users`` x ``items`` (unknown ids refused)."""
    missing = {"user_id", "item_id"} - set(frame.columns)
    if missing:
        raise ValidationFailedError(
            f"{where}: missing column(s) {sorted(missing)} (need user_id, item_id, timestamp)",
            field="split_from",
        )
    u = users.index(frame["user_id"].cast(pl.String))
    i = items.index(frame["item_id"].cast(pl.String))
    if (u < 0).any() or (i < 0).any():
        raise ValidationFailedError(
            f"{where}: {int((u < 0).sum() + (i < 0).sum())} id(s) not in {MANIFEST}'s vocabularies",
            field="split_from",
        )
    n = frame.height
    log = pl.DataFrame(
        {
            "user": u,
            "item": i,
            "weight": frame["weight"] if "weight" in frame.columns else pl.Series([1.0] * n),
            "timestamp": _timestamps(frame),
            "session": frame["session_id"].cast(pl.String)
            if "session_id" in frame.columns
            else pl.Series([None] * n, dtype=pl.String),
        }
    )
    return Interactions(users, items, log.cast(LOG_SCHEMA))  # type: ignore[arg-type]


def _timestamps(frame: pl.DataFrame) -> pl.Series:
    """Timestamps as UTC milliseconds: datetimes, ISO text, epoch seconds or milliseconds."""
    utc = pl.Datetime("ms", "UTC")
    if "timestamp" not in frame.columns:
        return pl.Series("timestamp", [None] * frame.height, dtype=utc)
    ts = frame["timestamp"]
    if isinstance(ts.dtype, pl.Datetime):
        local = ts.dt.replace_time_zone("UTC") if ts.dtype.time_zone is None else ts
        return local.dt.convert_time_zone("UTC").dt.cast_time_unit("ms")
    if ts.dtype == pl.String:
        return ts.str.to_datetime(time_zone="UTC", time_unit="ms")
    values = ts.cast(pl.Float64)
    seconds = (values.abs().max() or 0) < _SECONDS_BELOW  # type: ignore[operator]
    ms = (values * 1000).round(0) if seconds else values.round(0)
    return ms.cast(pl.Int64).cast(utc)
