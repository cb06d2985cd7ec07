from __future__ import annotations

from datetime import date

import pytest

from finra.parsing import HEADER_COLUMNS, parse_weekly_file
from finra.samplegen import generate_week_file, sample_file_name, write_sample_set
from tests.finra.reference import normalize_frame, venue_share

WEEK_ENDING = date(2025, 12, 12)


def generate(**options) -> bytes:
    options = {"week_ending": WEEK_ENDING, "tier": "OTC", "rows": 2000, "seed": 42, **options}
    return generate_week_file(**options)


def parse(data: bytes, tier: str = "OTC"):
    return parse_weekly_file(data, week_ending=WEEK_ENDING, tier=tier)


def test_same_arguments_give_the_same_bytes():
    assert generate() == generate()
    assert generate() != generate(seed=43)
    assert generate() != generate(week_ending=date(2025, 12, 5))


@pytest.mark.parametrize(
    ("tier", "description", "published"),
    [
        ("NMS_TIER_1", "NMS Tier 1", date(2025, 12, 29)),
        ("NMS_TIER_2", "NMS Tier 2", date(2026, 1, 12)),
        ("OTC", "OTC", date(2026, 1, 12)),
    ],
)
def test_files_parse_cleanly_in_the_real_layout(tier, description, published):
    data = generate(tier=tier)
    assert data.decode().splitlines()[0] == "|".join(HEADER_COLUMNS)
    parsed = parse(data, tier=tier)
    assert parsed.rejects == []
    assert parsed.total_rows == parsed.row_count == 2000
    assert set(parsed.frame["tier_description"]) == {description}
    assert parsed.source_last_update_date == published
    assert normalize_frame(parsed.frame, tier=tier).merged_duplicates == 0


def test_files_carry_the_quirks_of_real_files():
    frame = parse(generate()).frame
    symbols = set(frame["symbol"])
    assert {"", "NA", "NAN", "NULL", "TRUE", "BRK.B", "KKR$D"} <= symbols
    blank_mpid = frame[frame["mpid"] == ""]
    assert len(blank_mpid) > 0
    assert set(blank_mpid["participant_name"]) == {"De Minimis Firms"}
    assert frame["issue_name"].str.contains(",", regex=False).any()
    assert frame["issue_name"].str.contains("  ", regex=False).any()
    assert frame["issue_name"].str.contains('"', regex=False).any()
    # Rows are sorted by symbol like FINRA's files.
    assert frame["symbol"].tolist() == sorted(frame["symbol"])


def test_otc_volume_is_dominated_by_a_few_venues():
    frame = normalize_frame(parse(generate(rows=20_000)).frame, tier="OTC").frame
    shares = venue_share(frame)
    assert shares["venue_key"].tolist()[:2] == ["OTCN", "OTCX"]
    assert shares["share"].head(3).sum() > 0.9


def test_nms_tiers_use_ats_venues():
    frame = parse(generate(tier="NMS_TIER_1"), tier="NMS_TIER_1").frame
    assert {"UBSA", "JPMX", "INCR", "MSPL", "CROS"} <= set(frame["mpid"])


def test_restatement_changes_some_volumes_and_publishes_later():
    original = parse(generate())
    restated = parse(generate(revision=1))
    assert restated.sha256 != original.sha256
    # First published Monday 2026-01-12; + 7 days is Martin Luther King Jr. Day: the Tuesday.
    assert original.source_last_update_date == date(2026, 1, 12)
    assert restated.source_last_update_date == date(2026, 1, 20)
    assert parse(generate(revision=2)).source_last_update_date == date(2026, 1, 26)
    same_layout = ["symbol", "issue_name", "participant_name", "mpid"]
    assert restated.frame[same_layout].equals(original.frame[same_layout])
    changed = (restated.frame["share_quantity"] != original.frame["share_quantity"]).sum()
    assert 0 < changed < len(original.frame) * 0.2
    assert generate(revision=1) == generate(revision=1)


def test_final_newline_is_optional():
    with_newline = generate(rows=10)
    without = generate(rows=10, final_newline=False)
    assert with_newline.endswith(b"\n")
    assert without == with_newline[:-1]
    assert parse(without).row_count == 10


@pytest.mark.parametrize("rows", [1, 3, 9])
def test_small_row_counts_are_exact(rows):
    assert parse(generate(rows=rows)).row_count == rows


def test_sample_file_layout(tmp_path):
    assert sample_file_name(WEEK_ENDING, "NMS Tier 1") == "2025-12-12/NMS_TIER_1.psv"
    assert sample_file_name("2025-12-12", "OTCE") == "2025-12-12/OTC.psv"
    written = write_sample_set(
        tmp_path, week_endings=[WEEK_ENDING, date(2025, 12, 19)], rows=5, seed=1
    )
    assert [path.relative_to(tmp_path).as_posix() for path in written] == [
        "2025-12-12/NMS_TIER_1.psv",
        "2025-12-12/NMS_TIER_2.psv",
        "2025-12-12/OTC.psv",
        "2025-12-19/NMS_TIER_1.psv",
        "2025-12-19/NMS_TIER_2.psv",
        "2025-12-19/OTC.psv",
    ]
    assert written[2].read_bytes() == generate(rows=5, seed=1)
