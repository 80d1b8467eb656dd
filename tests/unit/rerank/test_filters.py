"""The shared filter syntax: parsing, errors, masks, polars expressions."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from tastemaker.errors import ValidationFailedError
from tastemaker.rerank.filters import Clause, parse_filters
from tastemaker.retrieval.itemtable import ItemTable


def test_parse_clauses() -> None:
    f = parse_filters("fuel_type:electric, body_type:suv|mpv,price<30000,brand!=x")
    assert f.clauses == (
        Clause("fuel_type", ":", ("electric",)),
        Clause("body_type", ":", ("suv", "mpv")),
        Clause("price", "<", ("30000",)),
        Clause("brand", "!=", ("x",)),
    )
    assert f.key() == "fuel_type:electric,body_type:suv|mpv,price<30000,brand!=x"
    assert not parse_filters(None) and not parse_filters("  ")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("fuel_type", "is not 'field:value'"),
        ("price<cheap", "not a number"),
        ("fuel_type:", "empty value"),
        (":x", "is not"),
        ("a:b|", "empty value"),
    ],
)
def test_malformed_filters_name_the_clause(text: str, why: str) -> None:
    with pytest.raises(ValidationFailedError) as err:
        parse_filters(text)
    assert why in err.value.message and err.value.status_code == 422


def test_masks_over_the_item_table(table: ItemTable) -> None:
    assert np.flatnonzero(parse_filters("fuel_type:ELECTRIC,price<=5000").mask(table)).tolist() == [
        0,
        2,
        4,
    ]
    assert np.flatnonzero(parse_filters("brand:a|b,category!=van").mask(table)).tolist() == [
        1,
        3,
        6,
        7,
        9,
        10,
    ]
    assert parse_filters("in_stock:false").mask(table).sum() == 1
    assert parse_filters("fuel_type:hydrogen").mask(table).sum() == 0


def test_unknown_field_and_text_comparison_are_422(table: ItemTable) -> None:
    with pytest.raises(ValidationFailedError, match="unknown field 'colour'"):
        parse_filters("colour:red").mask(table)
    with pytest.raises(ValidationFailedError, match="is text"):
        parse_filters("brand>3").mask(table)


def test_polars_expression_agrees_with_the_mask(table: ItemTable) -> None:
    frame = pl.DataFrame(
        {
            "item_id": list(table.vocab.ids),
            "fuel_type": [table.label("fuel_type", j) for j in range(len(table))],
            "brand": [table.label("brand", j) for j in range(len(table))],
            "price": table.numeric["price"],
        }
    )
    for text in ("fuel_type:electric,price>3000", "brand!=a|c", "price>=12000"):
        f = parse_filters(text)
        assert frame.filter(f.expr())["item_id"].to_list() == list(table.vocab.ids[f.mask(table)])
