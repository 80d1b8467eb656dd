"""Segment quality on a hand-worked example (precision / recall as the seed defines them)."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
from profile_helpers import ITEMS, T0, views

from tastemaker.evaluation.segments import segment_quality
from tastemaker.workspace import Workspace


def test_precision_and_recall_on_the_following_period(sqlite_workspace: Workspace) -> None:
    ws = sqlite_workspace
    ws.ingestor.ingest_items(ITEMS, "t")
    later = T0 + timedelta(days=2)
    batches = [
        views("ann", ["ev_suv1", "ev_suv2", "ev_hatch"], prefix="a"),  # electric member
        views("ben", ["d_sedan"], prefix="b"),  # active, not a member
        views("ann", ["ev_suv1", "ev_hatch", "d_sedan"], start=later, prefix="c"),
        views("ben", ["ev_suv2", "p_hatch"], start=later, prefix="d"),
        views("cyd", ["d_sedan"], prefix="e"),  # joins electric only after the split
        views("cyd", ["ev_suv1", "ev_suv2", "ev_hatch"], start=later, prefix="f"),
    ]
    for frame in batches:
        ws.ingestor.ingest_events(frame, "t")
    truth = {"params": {"start": "2026-01-01T00:00:00Z"},
             "users": {"ann": {"fuel_type": "electric"}, "ben": {"fuel_type": "electric"},
                       "cyd": {"fuel_type": "electric"}}}  # fmt: skip
    split = T0 + timedelta(days=1)
    used, report = segment_quality(ws, split, horizon_days=7, truth=truth)
    assert used == split
    electric = next(q for q in report if q.segment == "electric")
    # membership as of the split: only ann (cyd's electric views come later)
    # after the split: ann views 2 electric of 3; ben 1 electric, cyd 3 electric
    assert (electric.members, electric.views_by_members) == (1, 3)
    assert electric.precision == round(2 / 3, 4)
    assert electric.recall == round(2 / 6, 4)
    # truth: ann, ben and cyd prefer electric and were active: ann found, two missed
    assert (electric.truth_precision, electric.truth_recall) == (1.0, round(1 / 3, 4))
    assert "electric" in ws.profiles.get(ws.pseudonymizer.one("cyd")).segments  # type: ignore[union-attr]
    diesel = next(q for q in report if q.segment == "diesel")
    assert diesel.members == 0 and diesel.precision is None and diesel.recall == 0.0
    assert pl.DataFrame([q.to_dict() for q in report]).height == len(report)
