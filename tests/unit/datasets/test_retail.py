"""UCI Online Retail loader: cancellations, guest invoices, and the real file's counts."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest

from tastemaker.datasets.retail import load_online_retail

FIXTURE = """InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom
536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom
C536379,D,Discount,-1,2010-12-01 09:41:00,27.5,14527.0,United Kingdom
536414,22139,,56,2010-12-01 11:52:00,0.0,,United Kingdom
536544,71053,WHITE METAL LANTERN,2,2010-12-01 14:32:00,4.21,,United Kingdom
"""


def test_fixture_lines_events_and_guests(tmp_path: Path) -> None:
    path = tmp_path / "retail.csv.gz"
    path.write_bytes(gzip.compress(FIXTURE.encode()))
    data = load_online_retail(path)
    lines = data.extras["lines"]
    assert lines.height == 5 and lines["cancelled"].sum() == 1
    events = data.events
    assert events.height == 2  # customer purchases only; the cancellation is not an event
    assert events["user_id"].unique().to_list() == ["17850"]
    assert events["session_id"].unique().to_list() == ["536365"]
    assert events["value"].to_list() == pytest.approx([6 * 2.55, 6 * 3.39])
    guests = data.extras["guest_events"]
    assert guests.height == 2 and guests["user_id"].null_count() == 2
    assert guests["anonymous_id"].to_list() == ["guest-536414", "guest-536544"]
    assert data.items.filter(pl.col("item_id") == "71053")["title"][0] == "WHITE METAL LANTERN"
    assert data.users["user_id"].to_list() == ["14527", "17850"]


@pytest.mark.data
def test_real_file_counts(shared_data: Path) -> None:
    path = shared_data / "online-retail" / "online_retail.csv.gz"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    data = load_online_retail(path)
    lines = data.extras["lines"]
    assert lines.height == 541_909
    assert lines["invoice"].n_unique() == 25_900
    assert lines["cancelled"].sum() == 9_288
    assert lines["customer_id"].null_count() == 135_080
    assert lines["customer_id"].drop_nulls().n_unique() == 4_372
    assert lines["quantity"].sum() == 5_176_450
