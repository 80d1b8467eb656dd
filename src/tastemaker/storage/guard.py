"""`Guard`: the condition of a profile write by a process that keeps states in memory."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Guard:
    """Write only while watermark ``name`` is still at ``version`` and no process holds its
    lease: a writer keeping states of that version in memory (a stream worker) never writes
    over a rebuild, a retention or a forget that changed profiles since, nor while one runs
    (`Store.save_profiles` checks it in the write's transaction)."""

    name: str
    version: int
