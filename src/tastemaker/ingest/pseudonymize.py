"""Keyed HMAC pseudonymization of user identifiers: raw ids never reach storage or logs."""

from __future__ import annotations

import hashlib
import hmac
import operator
import os
import secrets
from itertools import compress
from pathlib import Path

import polars as pl

from tastemaker.errors import ConfigError

KEY_BYTES = 32
PSEUDONYM_CHARS = 32
_CACHE_LIMIT = 2_000_000


def create_key(path: Path, key: bytes | None = None) -> None:
    """Write ``key`` (default: a fresh random one) to ``path`` with file mode 0600 (fails if
    the file exists).

    Raises:
        ConfigError: ``key`` is shorter than 16 bytes.
    """
    if key is not None:
        Pseudonymizer(key)  # refuses a key too short to use
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(KEY_BYTES) if key is None else key.hex())
    os.chmod(path, 0o600)


class Pseudonymizer:
    """Maps raw ids to stable pseudonyms with HMAC-SHA256 under the workspace key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ConfigError("pseudonymization key is too short (need at least 16 bytes)")
        self._key = key
        self._cache: dict[str | None, str] = {}  # looked up with None for nulls

    @classmethod
    def from_file(cls, path: Path) -> Pseudonymizer:
        """Load the key written by `create_key`."""
        if not path.is_file():
            raise ConfigError(f"pseudonymization key {path} is missing (run `tastemaker init`)")
        return cls(bytes.fromhex(path.read_text().strip()))

    def one(self, raw_id: str) -> str:
        """Return the pseudonym of one raw id."""
        got = self._cache.get(raw_id)
        if got is None:
            digest = hmac.new(self._key, raw_id.encode(), hashlib.sha256).hexdigest()
            got = digest[:PSEUDONYM_CHARS]
            if len(self._cache) < _CACHE_LIMIT:
                self._cache[raw_id] = got
        return got

    def columns(self, frame: pl.DataFrame, names: tuple[str, ...]) -> pl.DataFrame:
        """Replace the ids in the text columns ``names`` by their pseudonyms (nulls stay null).

        A column whose ids mostly repeat (file chunks) is mapped through its distinct ids; one
        whose ids are mostly distinct (an API group: about a user per event) row by row, which
        saves finding the distinct ids and mapping them back.
        """
        mapped = []
        for name in names:
            if name not in frame.columns or frame.schema[name] != pl.String:
                continue
            column = frame[name]
            present = column.len() - column.null_count()
            if present == 0:  # nothing to map
                continue
            if 2 * column.n_unique() > present:
                pseudonyms = pl.Series(name, self._map(column.to_list()), dtype=pl.String)
                mapped.append(pseudonyms)
            else:
                raw, pseudo = self._lookup(column.drop_nulls().unique())
                mapped.append(column.replace_strict(raw, pseudo, default=None))
        return frame.with_columns(mapped) if mapped else frame

    def _lookup(self, uniques: pl.Series) -> tuple[pl.Series, pl.Series]:
        """Distinct raw ids and their pseudonyms (the mapping covers the batch only, so its
        cost follows the batch, not the cache)."""
        return uniques, pl.Series(self._map(uniques.to_list()), dtype=pl.String)

    def _map(self, raw: list[str | None]) -> list[str | None]:
        """The pseudonym of each id (None for None); each id not seen before is hashed once."""
        pseudonyms = list(map(self._cache.get, raw))  # one C-level pass for the known ids
        new = set(compress(raw, map(operator.not_, pseudonyms)))
        if new - {None}:
            fresh = {r: self.one(r) for r in new if r is not None}
            pairs = zip(raw, pseudonyms, strict=True)
            pseudonyms = [p if p is not None else fresh.get(r) for r, p in pairs]  # type: ignore[arg-type]
        return pseudonyms
