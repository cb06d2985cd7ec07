from __future__ import annotations

import hashlib
import re
from datetime import date
from pathlib import Path

import pytest

from finra.parsing import FinraFileError, RejectedRow, parse_weekly_file

HERE = Path(__file__).parent
CORPUS = HERE / "corpus"
DATA = HERE / "data"
REAL_FILE = DATA / "finra_otc_weekly_otc_20251215.psv"
WEEK_ENDING = date(2025, 12, 12)  # the week the corpus is written for
REAL_WEEK_ENDING = date(2025, 11, 14)  # the week the real file holds

HEADER = (
    "tierDescription|issueSymbolIdentifier|issueName|marketParticipantName|MPID|"
    "totalWeeklyShareQuantity|totalWeeklyTradeCount|lastUpdateDate"
)


def parse(data: bytes, **options):
    options.setdefault("week_ending", WEEK_ENDING)
    options.setdefault("tier", "OTC")
    return parse_weekly_file(data, **options)


def corpus_table() -> list[tuple[str, str, str]]:
    """(file, outcome, fragment) rows of the table in corpus/README.md."""
    rows = []
    for line in (CORPUS / "README.md").read_text().splitlines():
        if not line.startswith("| `"):
            continue
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
        file_name, outcome, fragment = (cell.strip("`").replace("\\|", "|") for cell in cells)
        rows.append((file_name, outcome, fragment))
    return rows


CORPUS_ROWS = corpus_table()


def test_corpus_readme_lists_every_file_once():
    listed = [file_name for file_name, _, _ in CORPUS_ROWS]
    on_disk = sorted(path.name for path in CORPUS.glob("*.psv"))
    assert sorted(listed) == on_disk
    assert len(listed) == len(set(listed)) >= 15


@pytest.mark.parametrize(("file_name", "outcome", "fragment"), CORPUS_ROWS)
def test_corpus_file(file_name, outcome, fragment):
    data = (CORPUS / file_name).read_bytes()
    if outcome == "error":
        with pytest.raises(FinraFileError) as excinfo:
            parse(data)
        assert fragment in str(excinfo.value)
        return
    line_number = int(outcome.removeprefix("reject line "))
    parsed = parse(data, max_reject_ratio=1.0)
    assert [(row.line_number, fragment in row.reason) for row in parsed.rejects] == [
        (line_number, True)
    ]
    assert parsed.total_rows == parsed.row_count + 1
    assert line_number not in parsed.frame["line_number"].tolist()
    raw_lines = data.decode("utf-8").splitlines()
    assert parsed.rejects[0].raw_line == raw_lines[line_number - 1]


def test_a_rejected_row_under_the_limit_keeps_the_rest_of_the_file():
    rows = [f"OTC|S{i}|Name {i}|OTCN OTC LINK NQB IDQS|OTCN|{i}|1|2025-12-15" for i in range(199)]
    rows.insert(41, "OTC|BAD|Bad row|OTCN OTC LINK NQB IDQS|OTCN|-1|1|2025-12-15")
    parsed = parse(("\n".join([HEADER, *rows]) + "\n").encode())
    assert parsed.total_rows == 200
    assert parsed.row_count == 199
    assert parsed.rejects == [
        RejectedRow(
            line_number=43,
            reason="negative totalWeeklyShareQuantity: -1",
            raw_line="OTC|BAD|Bad row|OTCN OTC LINK NQB IDQS|OTCN|-1|1|2025-12-15",
        )
    ]
    # Physical line numbers of the rows after the reject are not shifted.
    assert parsed.frame["line_number"].tolist()[40:43] == [42, 44, 45]


def test_reject_ratio_at_the_limit_passes_and_above_it_fails():
    good = [f"OTC|S{i}|Name|OTCN OTC LINK NQB IDQS|OTCN|1|1|2025-12-15" for i in range(98)]
    bad = ["OTC|X|Name|OTCN OTC LINK NQB IDQS|OTCN|1|1|2025-12-15|extra"]
    exactly_one_percent = ("\n".join([HEADER, *good, "OTC|Y|N|P|M|1|1|2025-12-15", *bad])).encode()
    assert parse(exactly_one_percent).row_count == 99
    over = ("\n".join([HEADER, *good, *bad, *bad])).encode()
    with pytest.raises(FinraFileError, match=r"reject ratio 0\.020 exceeds the limit 0\.01 \(2 of"):
        parse(over)


def test_real_file_parses_completely():
    data = REAL_FILE.read_bytes()
    parsed = parse(data, week_ending=REAL_WEEK_ENDING)
    frame = parsed.frame
    assert parsed.total_rows == parsed.row_count == len(frame) == 5328
    assert parsed.rejects == []
    assert parsed.sha256 == hashlib.sha256(data).hexdigest()
    assert parsed.source_last_update_date == date(2025, 12, 15)
    assert list(frame.columns) == [
        "line_number",
        "tier_description",
        "symbol",
        "issue_name",
        "participant_name",
        "mpid",
        "share_quantity",
        "trade_count",
        "last_update_date",
    ]
    assert str(frame["share_quantity"].dtype) == "int64"
    assert str(frame["trade_count"].dtype) == "int64"
    assert str(frame["line_number"].dtype) == "int64"
    assert frame["line_number"].tolist() == list(range(2, 5330))
    assert frame["symbol"].nunique() == 3111
    assert frame["mpid"].nunique() == 9
    assert int(frame["share_quantity"].sum()) == 1_335_995_901
    first = frame.iloc[0].to_dict()
    assert first == {
        "line_number": 2,
        "tier_description": "OTC",
        "symbol": "AABB",
        "issue_name": "Asia Broadband Inc Common Stock",
        "participant_name": "OTCN OTC LINK NQB IDQS",
        "mpid": "OTCN",
        "share_quantity": 6753871,
        "trade_count": 171,
        "last_update_date": "2025-12-15",
    }


def test_real_file_keeps_names_verbatim():
    frame = parse(REAL_FILE.read_bytes(), week_ending=REAL_WEEK_ENDING).frame
    raw_lines = REAL_FILE.read_text().splitlines()
    with_double_space = frame[frame["issue_name"].str.contains("  ", regex=False)]
    assert len(with_double_space) > 0
    row = with_double_space.iloc[0]
    assert raw_lines[row["line_number"] - 1].split("|")[2] == row["issue_name"]
    assert frame["issue_name"].str.contains(",", regex=False).any()
    assert "SWCL INX SECURITIES, LLC" in set(frame["participant_name"])


def test_the_partition_tier_may_use_any_finra_spelling():
    data = REAL_FILE.read_bytes()
    assert parse(data, week_ending=REAL_WEEK_ENDING, tier="OTCE").row_count == 5328
    with pytest.raises(FinraFileError, match=r"tier column says OTC .* partition is NMS_TIER_1"):
        parse(data, week_ending=REAL_WEEK_ENDING, tier="T1")


def test_file_for_a_later_week_is_refused():
    with pytest.raises(FinraFileError, match="lastUpdateDate 2025-12-15 is on or before"):
        parse(REAL_FILE.read_bytes(), week_ending=date(2025, 12, 19))


@pytest.mark.parametrize(
    "file_name",
    [
        "good_crlf.psv",
        "good_bom.psv",
        "good_no_final_newline.psv",
        "good_bom_crlf_no_final_newline.psv",
    ],
)
def test_line_ending_and_bom_variants_parse_like_the_plain_file(file_name):
    parsed = parse((DATA / file_name).read_bytes())
    assert parsed.rejects == []
    assert parsed.frame["line_number"].tolist() == [2, 3]
    assert parsed.frame["symbol"].tolist() == ["AABB", "AACAY"]
    # Nothing of the BOM or the CR leaks into the first or last column.
    assert parsed.frame["tier_description"].tolist() == ["OTC", "OTC"]
    assert parsed.frame["last_update_date"].tolist() == ["2025-12-15", "2025-12-15"]
    assert parsed.frame["share_quantity"].tolist() == [6753871, 10563]


def test_tricky_values_stay_as_written():
    parsed = parse((DATA / "good_tricky_values.psv").read_bytes())
    frame = parsed.frame
    assert parsed.rejects == []
    assert frame["symbol"].tolist() == [
        "NA",
        "NAN",
        "NULL",
        "TRUE",
        "BRK.B",
        "KKR$D",
        "",
        "ZZZZ",
        "ZZZZ",
    ]
    assert frame["symbol"].isna().sum() == 0
    assert frame.loc[0, "issue_name"] == "National Amusements, Inc.  Class A"
    assert frame.loc[7, "issue_name"] == 'Zeta "Quoted" Trust'
    assert frame.loc[7, "mpid"] == ""
    assert frame.loc[7, "participant_name"] == "De Minimis Firms"
    assert frame["share_quantity"].tolist()[-2:] == [800, 0]


def test_mixed_update_dates_take_the_newest():
    rows = [
        "OTC|A|A Corp|OTCN OTC LINK NQB IDQS|OTCN|1|1|2025-12-15",
        "OTC|B|B Corp|OTCN OTC LINK NQB IDQS|OTCN|1|1|2025-12-22",
    ]
    parsed = parse("\n".join([HEADER, *rows]).encode())
    assert parsed.source_last_update_date == date(2025, 12, 22)
    assert parsed.frame["last_update_date"].tolist() == ["2025-12-15", "2025-12-22"]


def test_header_columns_may_come_in_any_order():
    header = "MPID|" + HEADER.replace("|MPID", "")
    row = "OTCN|OTC|A|A Corp|OTCN OTC LINK NQB IDQS|5|1|2025-12-15"
    frame = parse(f"{header}\n{row}\n".encode()).frame
    assert frame.loc[0, "mpid"] == "OTCN"
    assert frame.loc[0, "symbol"] == "A"
    assert frame.loc[0, "share_quantity"] == 5


def test_blank_lines_are_not_rows():
    row = "OTC|A|A Corp|OTCN OTC LINK NQB IDQS|OTCN|5|1|2025-12-15"
    parsed = parse(f"{HEADER}\n\n{row}\n\n".encode())
    assert parsed.total_rows == 1
    assert parsed.frame["line_number"].tolist() == [3]


def test_int64_maximum_is_accepted():
    row = "OTC|A|A Corp|OTCN OTC LINK NQB IDQS|OTCN|9223372036854775807|0|2025-12-15"
    parsed = parse(f"{HEADER}\n{row}".encode())
    assert parsed.frame.loc[0, "share_quantity"] == 9223372036854775807


def test_all_reasons_of_a_row_are_reported_together():
    row = "OTC|A|A Corp|OTCN OTC LINK NQB IDQS|OTCN|-1|x|2025-02-30"
    parsed = parse(f"{HEADER}\n{row}".encode(), max_reject_ratio=1.0)
    assert parsed.row_count == 0
    assert parsed.source_last_update_date is None
    assert parsed.rejects[0].reason == (
        "negative totalWeeklyShareQuantity: -1; "
        "totalWeeklyTradeCount is not a whole number: 'x'; "
        "lastUpdateDate is not a date (expected YYYY-MM-DD): '2025-02-30'"
    )


def test_week_ending_must_be_a_friday():
    with pytest.raises(ValueError, match="is a Monday"):
        parse(REAL_FILE.read_bytes(), week_ending=date(2025, 12, 15))


@pytest.mark.parametrize(
    ("share_text", "outcome"),
    [
        ("0", 0),
        ("007", 7),
        ("9223372036854775807", 9223372036854775807),
        ("000000000000000000000042", 42),
        ("9223372036854775808", "overflows a signed 64-bit integer"),
        ("18446744073709551616", "overflows a signed 64-bit integer"),
        ("+5", "is not a whole number: '+5'"),
        (" 5", "is not a whole number: ' 5'"),
        ("5 ", "is not a whole number: '5 '"),
        ("1e2", "is not a whole number: '1e2'"),
        ("1.0", "is not a whole number: '1.0'"),
        ("1,000", "is not a whole number: '1,000'"),
        ("\u0663", "is not a whole number: '\u0663'"),  # an Arabic-Indic digit
        ("-0", "negative totalWeeklyShareQuantity: -0"),
        ("--5", "is not a whole number: '--5'"),
    ],
)
def test_share_quantity_must_be_plain_ascii_digits(share_text, outcome):
    row = f"OTC|A|A Corp|OTCN OTC LINK NQB IDQS|OTCN|{share_text}|1|2025-12-15"
    parsed = parse(f"{HEADER}\n{row}\n".encode(), max_reject_ratio=1.0)
    if isinstance(outcome, int):
        assert parsed.rejects == []
        assert parsed.frame["share_quantity"].tolist() == [outcome]
    else:
        assert len(parsed.rejects) == 1
        assert outcome in parsed.rejects[0].reason
