"""Cells a spreadsheet will not run: the one rule every CSV the product emits goes through.

Excel, LibreOffice and Google Sheets evaluate a cell that starts with ``=``, ``+``, ``-`` or
``@`` as a formula, and a leading tab or carriage return can hide such a start from a naive
check. FINRA's files and user input (symbols, venue names, usernames in the audit log) are
text anyone can shape, so a text cell that starts with one of those characters gets a single
quote in front: the spreadsheet shows it as text, and a person can still read the value.

Only text is touched. A number from a numeric field (a share of -0.5, a count) is data that a
desk wants to compute with, and a number cannot carry a formula, so it is written as it is.
The JSON answers are not touched at all: the rule is the CSV writers'.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

#: The characters that make a spreadsheet read a cell as a formula (or hide one).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe_cell(value: Any) -> Any:
    """``value`` as a CSV cell: text that a spreadsheet would evaluate gets a leading quote."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_safe_row(row: Iterable[Any]) -> list[Any]:
    """Each cell of ``row`` through :func:`csv_safe_cell`, for ``csv.writer.writerow``."""
    return [csv_safe_cell(value) for value in row]
