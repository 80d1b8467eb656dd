"""Which device an exposed user counts under in the breakdown by device."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from tastemaker.experiments.results import unit_devices


def _at(day: int) -> datetime:
    return datetime(2026, 1, day, tzinfo=UTC)


def test_the_last_device_before_exposure_wins_then_the_first_after_then_the_attribute() -> None:
    log = pl.DataFrame(
        {
            "user_id": ["before", "before", "before", "after", "after", "attr"],
            "timestamp": [_at(1), _at(2), _at(9), _at(8), _at(9), _at(2)],
            "context": [
                '{"device": "mobile"}',
                '{"device": "tablet"}',
                '{"device": "desktop"}',
                '{"device": "desktop"}',
                '{"device": "mobile"}',
                '{"page": "home"}',
            ],
        }
    )
    exposed = pl.DataFrame(
        {"user_id": ["before", "after", "attr", "nobody"], "exposed_at": [_at(5)] * 4}
    )
    users = pl.DataFrame({"user_id": ["attr", "before"], "device": ["tablet", "mobile"]})
    got = unit_devices(log, exposed, users).to_list()
    assert got == ["tablet", "desktop", "tablet", "unknown"]


def test_users_without_a_device_attribute_are_unknown() -> None:
    exposed = pl.DataFrame({"user_id": ["a"], "exposed_at": [_at(5)]})
    log = pl.DataFrame(
        {"user_id": ["a"], "timestamp": [_at(1)], "context": [None]},
        schema={"user_id": pl.String, "timestamp": pl.Datetime("us", "UTC"), "context": pl.String},
    )
    users = pl.DataFrame({"user_id": ["a"], "consent": [True]})
    assert unit_devices(log, exposed, users).to_list() == ["unknown"]
