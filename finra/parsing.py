# Over 400 lines: one file format, parsed in one vectorised pass whose steps share its line index.
"""Parse and validate one FINRA OTC Transparency weekly file (one tier, one week).

Two kinds of failure, treated differently on purpose:

- A *structural* error (wrong header, wrong delimiter, not UTF-8, a file for another tier, a
  publication date that cannot belong to the week, too many bad rows) means the file as a whole
  cannot be trusted. :class:`FinraFileError` is raised and nothing is returned, so a caller cannot
  write part of a bad file by accident.
- A *row* error (a negative count, a malformed number or date, a line with the wrong number of
  fields) affects one line. The row goes to ``ParsedFile.rejects`` with its physical line number
  and a reason, and the rest of the file is kept, up to ``max_reject_ratio``.

The parser is built for 1,000,000-row files: every check is vectorised (numpy on the raw bytes for
field counts, pandas' C engine for the split, vectorised string tests for numbers). Python-level
loops only run over distinct values of low-cardinality columns or over rejected rows.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from finra.tiers import UnknownTierError, canonical_tier
from finra.weeks import parse_week_ending

HEADER_COLUMNS: tuple[str, ...] = (
    "tierDescription",
    "issueSymbolIdentifier",
    "issueName",
    "marketParticipantName",
    "MPID",
    "totalWeeklyShareQuantity",
    "totalWeeklyTradeCount",
    "lastUpdateDate",
)

# File column -> column of ParsedFile.frame.
FRAME_COLUMNS: dict[str, str] = {
    "tierDescription": "tier_description",
    "issueSymbolIdentifier": "symbol",
    "issueName": "issue_name",
    "marketParticipantName": "participant_name",
    "MPID": "mpid",
    "totalWeeklyShareQuantity": "share_quantity",
    "totalWeeklyTradeCount": "trade_count",
    "lastUpdateDate": "last_update_date",
}

DELIMITER = "|"
_UTF8_BOM = b"\xef\xbb\xbf"
_INT64_MAX_DIGITS = len(str(np.iinfo(np.int64).max))  # 19
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NEGATIVE = re.compile(r"-[0-9]+")
_OTHER_DELIMITERS = (",", "\t", ";")
_REJECTS_IN_MESSAGE = 3
# Parsed from the raw bytes with numpy rather than by pandas: pandas' integer parsing accepts
# "+5", " 5" and "1e3", and turning 2M number fields into Python strings first is the slowest
# part of a 1M-row parse.
_COUNT_COLUMNS = ("totalWeeklyShareQuantity", "totalWeeklyTradeCount")
_INT64_MAX = np.uint64(np.iinfo(np.int64).max)


class FinraFileError(ValueError):
    """The file as a whole is unusable; the message says why in plain words."""


@dataclass(frozen=True)
class RejectedRow:
    """One data line that was left out, with the reason a data-ops user can act on."""

    line_number: int
    reason: str
    raw_line: str


@dataclass
class ParsedFile:
    """The valid rows of a weekly file plus everything needed to record the capture.

    ``frame.last_update_date`` holds the ISO ``YYYY-MM-DD`` text exactly as validated: it is
    cheap to carry through 1M rows and loads into a DATE column as is. The typed value callers
    need for the capture is ``source_last_update_date`` (the newest date among valid rows;
    None only when no row is valid).
    """

    frame: pd.DataFrame
    rejects: list[RejectedRow] = field(default_factory=list)
    row_count: int = 0
    total_rows: int = 0
    sha256: str = ""
    source_last_update_date: date | None = None
    #: Every data line became a row, in file order: no blank, malformed or rejected line.
    #: The file's data lines can then be loaded as they are (see ``finra.storage``).
    every_line_kept: bool = False


def content_sha256(data: bytes) -> str:
    """The identity of a source file's content: a capture's ``source_sha256``, compared to tell
    an unchanged re-publication from a revision."""
    return hashlib.sha256(data).hexdigest()


def parse_weekly_file(
    data: bytes,
    *,
    week_ending: date,
    tier: str,
    max_reject_ratio: float = 0.01,
) -> ParsedFile:
    """Parse a weekly file for the partition (week_ending, tier) and validate it.

    The week and tier come from the partition being ingested, not from the file: FINRA's
    ``lastUpdateDate`` is a publication date, so the file alone cannot say which week it holds.
    The file is still checked against the partition (its tier column and that every
    ``lastUpdateDate`` falls after the week) so a file dropped in the wrong folder is refused.
    """
    week_ending = parse_week_ending(week_ending)
    tier = canonical_tier(tier)
    sha256 = content_sha256(data)

    body = _decoded_body(data)
    header_end = body.find(b"\n")
    header_bytes = body if header_end < 0 else body[:header_end]
    rest = b"" if header_end < 0 else body[header_end + 1 :]
    columns = _check_header(header_bytes.decode("utf-8"))

    lines = _LineIndex.build(rest, expected_fields=len(columns))
    total_rows = int(lines.total_rows)
    if total_rows == 0:
        raise FinraFileError("file has a header but no data rows")

    rejects = [
        RejectedRow(
            int(line_number),
            f"{'more' if fields > len(columns) else 'fewer'} columns than the header: "
            f"{fields} fields, expected {len(columns)}",
            lines.raw_line(rest, position),
        )
        for position, line_number, fields in lines.wrong_field_count()
    ]
    _check_reject_ratio(rejects, total_rows, max_reject_ratio)

    raw = _read_fields(lines.well_formed_bytes(rest), columns, skip=_COUNT_COLUMNS)
    if len(raw) != lines.well_formed_count:
        raise FinraFileError(
            f"internal parse mismatch: {len(raw)} rows parsed from "
            f"{lines.well_formed_count} well-formed lines"
        )
    line_numbers = lines.well_formed_line_numbers()

    checks: list[tuple[np.ndarray, Callable[[int], str]]] = []
    checks += _check_tier_column(raw["tierDescription"], line_numbers, tier)
    share_quantity, share_checks = _parse_counts(
        rest,
        *lines.field_spans(columns.index("totalWeeklyShareQuantity")),
        column="totalWeeklyShareQuantity",
    )
    trade_count, trade_checks = _parse_counts(
        rest,
        *lines.field_spans(columns.index("totalWeeklyTradeCount")),
        column="totalWeeklyTradeCount",
    )
    checks += share_checks + trade_checks
    date_codes, distinct_dates, date_checks = _parse_update_dates(
        raw["lastUpdateDate"], line_numbers, week_ending
    )
    checks += date_checks

    rejected = np.zeros(len(raw), dtype=bool)
    for mask, _ in checks:
        rejected |= mask
    rejected_positions = np.flatnonzero(rejected)

    def reason_at(position: int) -> str:
        return "; ".join(describe(position) for mask, describe in checks if mask[position])

    row_rejects_needed = len(rejected_positions)
    if (len(rejects) + row_rejects_needed) / total_rows > max_reject_ratio:
        # Only describe the first few: the file is refused anyway.
        preview = sorted(
            rejects
            + [
                RejectedRow(int(line_numbers[p]), reason_at(p), "")
                for p in rejected_positions[:_REJECTS_IN_MESSAGE]
            ],
            key=lambda row: row.line_number,
        )
        _raise_reject_ratio(
            len(rejects) + row_rejects_needed, total_rows, max_reject_ratio, preview
        )

    line_positions = lines.well_formed_positions()
    rejects += [
        RejectedRow(
            int(line_numbers[p]), reason_at(p), lines.raw_line(rest, int(line_positions[p]))
        )
        for p in rejected_positions
    ]
    rejects.sort(key=lambda row: row.line_number)

    valid = ~rejected
    kept = (raw if valid.all() else raw.loc[valid]).reset_index(drop=True)
    frame = pd.DataFrame(
        {
            "line_number": line_numbers[valid],
            "tier_description": kept["tierDescription"],
            "symbol": kept["issueSymbolIdentifier"],
            "issue_name": kept["issueName"],
            "participant_name": kept["marketParticipantName"],
            "mpid": kept["MPID"],
            "share_quantity": share_quantity[valid],
            "trade_count": trade_count[valid],
            "last_update_date": kept["lastUpdateDate"],
        }
    )
    valid_dates = [distinct_dates[code] for code in np.unique(date_codes[valid])]
    return ParsedFile(
        frame=frame,
        rejects=rejects,
        row_count=len(frame),
        total_rows=total_rows,
        sha256=sha256,
        source_last_update_date=max(valid_dates) if valid_dates else None,
        every_line_kept=not rejects and bool(lines.well_formed.all()),
    )


def _decoded_body(data: bytes) -> bytes:
    """Check the encoding and return the bytes without BOM and with LF line endings."""
    if not data or data.isspace():
        raise FinraFileError("file is empty")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_number = data.count(b"\n", 0, exc.start) + 1
        raise FinraFileError(
            f"file is not UTF-8 (invalid byte 0x{data[exc.start]:02x} at offset {exc.start}, "
            f"line {line_number})"
        ) from None
    body = data[len(_UTF8_BOM) :] if data.startswith(_UTF8_BOM) else data
    if b"\r" in body:
        body = body.replace(b"\r\n", b"\n")
    return body


def _check_header(header_line: str) -> list[str]:
    if not header_line.strip():
        raise FinraFileError("header line is empty (line 1)")
    if DELIMITER not in header_line:
        for other in _OTHER_DELIMITERS:
            if other in header_line:
                raise FinraFileError(
                    f"wrong delimiter: expected {DELIMITER!r} in the header line, found {other!r}"
                )
    columns = [name.strip() for name in header_line.split(DELIMITER)]
    problems = []
    missing = [name for name in HEADER_COLUMNS if name not in columns]
    if missing:
        problems.append(f"missing header columns: {', '.join(missing)}")
    unknown = [name for name in columns if name not in HEADER_COLUMNS]
    if unknown:
        problems.append(f"unknown header columns: {', '.join(n or repr(n) for n in unknown)}")
    duplicated = sorted({name for name in columns if columns.count(name) > 1 and name})
    if duplicated:
        problems.append(f"duplicate header columns: {', '.join(duplicated)}")
    if problems:
        raise FinraFileError("; ".join(problems))
    return columns


@dataclass
class _LineIndex:
    """Byte offsets and field counts of every data line, computed with numpy in two passes."""

    starts: np.ndarray
    ends: np.ndarray
    pipes: np.ndarray
    first_pipe: np.ndarray
    field_counts: np.ndarray
    blank: np.ndarray
    well_formed: np.ndarray
    expected_fields: int

    @classmethod
    def build(cls, rest: bytes, *, expected_fields: int) -> _LineIndex:
        raw = np.frombuffer(rest, dtype=np.uint8)
        newlines = np.flatnonzero(raw == ord("\n"))
        starts = np.concatenate(([0], newlines + 1))
        ends = np.concatenate((newlines, [len(rest)]))
        if len(rest) == 0 or rest.endswith(b"\n"):
            # A final newline terminates the last line; it does not start an empty one.
            starts, ends = starts[:-1], ends[:-1]
        pipes = np.flatnonzero(raw == ord(DELIMITER))
        first_pipe = np.searchsorted(pipes, starts)
        field_counts = np.searchsorted(pipes, ends) - first_pipe + 1
        # Empty lines are not rows (an editor's trailing blank line); they are skipped.
        blank = ends == starts
        well_formed = (field_counts == expected_fields) & ~blank
        return cls(
            starts, ends, pipes, first_pipe, field_counts, blank, well_formed, expected_fields
        )

    @property
    def total_rows(self) -> int:
        return int((~self.blank).sum())

    @property
    def well_formed_count(self) -> int:
        return int(self.well_formed.sum())

    def wrong_field_count(self) -> list[tuple[int, int, int]]:
        """(position, line number, field count) of the lines with the wrong number of fields."""
        positions = np.flatnonzero(~self.well_formed & ~self.blank)
        return [(int(p), int(p) + 2, int(self.field_counts[p])) for p in positions]

    def well_formed_positions(self) -> np.ndarray:
        return np.flatnonzero(self.well_formed)

    def well_formed_line_numbers(self) -> np.ndarray:
        # Line 1 is the header, so the first data line (position 0) is line 2.
        return (self.well_formed_positions() + 2).astype(np.int64)

    def field_spans(self, field_index: int) -> tuple[np.ndarray, np.ndarray]:
        """Byte offsets [start, end) of one field in every well-formed line.

        A well-formed line has exactly ``expected_fields - 1`` pipes, so its fields are the gaps
        between consecutive pipes counted from the line's first pipe.
        """
        positions = self.well_formed_positions()
        first = self.first_pipe[positions]
        if field_index == 0:
            starts = self.starts[positions]
        else:
            starts = self.pipes[first + field_index - 1] + 1
        if field_index == self.expected_fields - 1:
            ends = self.ends[positions]
        else:
            ends = self.pipes[first + field_index]
        return starts, ends

    def raw_line(self, rest: bytes, position: int) -> str:
        return rest[self.starts[position] : self.ends[position]].decode("utf-8")

    def well_formed_bytes(self, rest: bytes) -> bytes:
        """The data lines pandas should split: the original bytes when every line is fine."""
        if self.well_formed.all():
            return rest
        # Copy contiguous runs of good lines; the number of runs is bounded by the number of
        # bad or blank lines, which the reject ratio keeps small for any file we accept.
        flags = np.concatenate(([False], self.well_formed, [False])).astype(np.int8)
        edges = np.diff(flags)
        run_starts = np.flatnonzero(edges == 1)
        run_ends = np.flatnonzero(edges == -1) - 1
        return b"".join(
            rest[self.starts[first] : self.ends[last]] + b"\n"
            for first, last in zip(run_starts, run_ends, strict=True)
        )


def _read_fields(data: bytes, columns: list[str], *, skip: tuple[str, ...]) -> pd.DataFrame:
    """Split well-formed lines into string columns with pandas' C engine.

    Everything is read as text: symbols such as ``NA``, ``NAN``, ``NULL`` or ``TRUE`` must stay
    symbols. The ``skip`` columns are tokenized but not materialised.
    """
    kept = [name for name in columns if name not in skip]
    if not data:
        return pd.DataFrame({name: pd.Series([], dtype=str) for name in kept})
    return pd.read_csv(
        io.BytesIO(data),
        sep=DELIMITER,
        header=None,
        names=columns,
        usecols=kept,
        dtype=dict.fromkeys(kept, str),
        keep_default_na=False,
        na_filter=False,
        quoting=csv.QUOTE_NONE,
        lineterminator="\n",
        skip_blank_lines=False,
        engine="c",
        encoding="utf-8",
    )


def _check_tier_column(
    tier_column: pd.Series, line_numbers: np.ndarray, tier: str
) -> list[tuple[np.ndarray, Callable[[int], str]]]:
    codes, spellings = pd.factorize(tier_column)
    unknown_codes = []
    for code, spelling in enumerate(spellings):
        try:
            file_tier = canonical_tier(spelling)
        except UnknownTierError:
            unknown_codes.append(code)
            continue
        if file_tier != tier:
            first_line = int(line_numbers[np.argmax(codes == code)])
            raise FinraFileError(
                f"tier column says {file_tier} (line {first_line}) but the partition is {tier}"
            )
    if not unknown_codes:
        return []
    values = tier_column.to_numpy()
    return [
        (
            np.isin(codes, unknown_codes),
            lambda p: f"unknown tierDescription {values[p]!r}",
        )
    ]


def _parse_counts(
    rest: bytes, starts: np.ndarray, ends: np.ndarray, *, column: str
) -> tuple[np.ndarray, list[tuple[np.ndarray, Callable[[int], str]]]]:
    """Strictly parse a non-negative int64 field from the raw bytes: ASCII digits only.

    Digits are accumulated with numpy one character position at a time (at most 19 passes over
    the rows), so no Python string is created for a well-formed number. Only fields that are
    not plain digits, or longer than 19 characters, are looked at one by one to name the
    problem.
    """
    raw = np.frombuffer(rest, dtype=np.uint8)
    widths = ends - starts
    accumulated = np.zeros(len(starts), dtype=np.uint64)
    digits_only = widths > 0
    longest = int(widths.max()) if len(widths) else 0
    for offset in range(min(longest, _INT64_MAX_DIGITS)):
        inside = offset < widths
        digit = raw[np.where(inside, starts + offset, 0)] - np.uint8(ord("0"))
        is_digit = digit <= 9  # bytes below "0" wrap around to large values
        digits_only &= is_digit | ~inside
        accumulated = np.where(
            inside & is_digit, accumulated * np.uint64(10) + digit.astype(np.uint64), accumulated
        )
    short = digits_only & (widths <= _INT64_MAX_DIGITS)
    overflow = short & (accumulated > _INT64_MAX)
    values = np.where(short & ~overflow, accumulated, 0).astype(np.int64)

    def text_at(position: int) -> str:
        return rest[starts[position] : ends[position]].decode("utf-8")

    negative = np.zeros(len(starts), dtype=bool)
    malformed = np.zeros(len(starts), dtype=bool)
    for position in np.flatnonzero(~short):
        text = text_at(position)
        if text.isascii() and text.isdigit():  # more than 19 digits, maybe leading zeros
            number = int(text)
            if number > int(_INT64_MAX):
                overflow[position] = True
            else:
                values[position] = number
        elif _NEGATIVE.fullmatch(text):
            negative[position] = True
        else:
            malformed[position] = True

    def describe_malformed(position: int) -> str:
        value = text_at(position)
        if value == "":
            return f"{column} is empty"
        return f"{column} is not a whole number: {value!r}"

    checks: list[tuple[np.ndarray, Callable[[int], str]]] = [
        (negative, lambda p: f"negative {column}: {text_at(p)}"),
        (malformed, describe_malformed),
        (overflow, lambda p: f"{column} {text_at(p)} overflows a signed 64-bit integer"),
    ]
    return values, [check for check in checks if check[0].any()]


def _parse_update_dates(
    text: pd.Series, line_numbers: np.ndarray, week_ending: date
) -> tuple[np.ndarray, list[date | None], list[tuple[np.ndarray, Callable[[int], str]]]]:
    """Validate lastUpdateDate per distinct value (a file has one or a handful).

    Returns the factorized codes, the parsed date per code (None when malformed) and checks.
    """
    codes, distinct = pd.factorize(text)
    parsed: list[date | None] = []
    for value in distinct:
        day = None
        if _ISO_DATE.fullmatch(value):
            try:
                day = date.fromisoformat(value)
            except ValueError:
                day = None
        if day is not None and day <= week_ending:
            first_line = int(line_numbers[np.argmax(codes == len(parsed))])
            raise FinraFileError(
                f"lastUpdateDate {day.isoformat()} is on or before the week ending "
                f"{week_ending.isoformat()} (line {first_line}): the file cannot hold that week"
            )
        parsed.append(day)
    bad_codes = [code for code, day in enumerate(parsed) if day is None]
    if not bad_codes:
        return codes, parsed, []
    strings = text.to_numpy()
    return (
        codes,
        parsed,
        [
            (
                np.isin(codes, bad_codes),
                lambda p: f"lastUpdateDate is not a date (expected YYYY-MM-DD): {strings[p]!r}",
            )
        ],
    )


def _check_reject_ratio(rejects: list[RejectedRow], total_rows: int, limit: float) -> None:
    if len(rejects) / total_rows > limit:
        _raise_reject_ratio(len(rejects), total_rows, limit, rejects[:_REJECTS_IN_MESSAGE])


def _raise_reject_ratio(
    reject_count: int, total_rows: int, limit: float, preview: list[RejectedRow]
) -> None:
    first = "; ".join(
        f"line {row.line_number}: {row.reason}" for row in preview[:_REJECTS_IN_MESSAGE]
    )
    raise FinraFileError(
        f"reject ratio {reject_count / total_rows:.3f} exceeds the limit {limit:g} "
        f"({reject_count:,} of {total_rows:,} rows rejected); first rejects: {first}"
    )
