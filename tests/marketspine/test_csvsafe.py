"""The spreadsheet-formula rule shared by every CSV the product writes."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from marketspine.api.csvsafe import csv_safe_cell, csv_safe_row


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+EVIL", "'+EVIL"),
        ("-2+3", "'-2+3"),
        ("@SUM(9)", "'@SUM(9)"),
        ("\t=cmd", "'\t=cmd"),
        ("\r=cmd", "'\r=cmd"),
        ("BRK.B", "BRK.B"),
        ("a=b", "a=b"),  # only the first character opens a formula
        ("", ""),
    ],
)
def test_text_that_opens_a_formula_gets_a_leading_quote(cell, written):
    assert csv_safe_cell(cell) == written


@pytest.mark.parametrize("number", [-1.5, -3, Decimal("-0.25"), 0, None, True])
def test_numbers_and_empty_cells_are_written_as_they_are(number):
    assert csv_safe_cell(number) is number


def test_a_row_through_the_csv_module_reads_back_as_text():
    buffer = io.StringIO()
    csv.writer(buffer).writerow(csv_safe_row(["=1+1", -1.5, "OTCN", '@SUM(9),"x"']))

    assert next(csv.reader(io.StringIO(buffer.getvalue()))) == [
        "'=1+1",
        "-1.5",
        "OTCN",
        '\'@SUM(9),"x"',
    ]
