from __future__ import annotations

import hashlib
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from finra.management.commands.bootstrap_demo import expected_stages, shipped_partitions
from finra.parsing import parse_weekly_file
from finra.weeks import expected_publication_date
from tests.finra.conftest import REAL_FILE


def digest(root) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.psv"))
    }


def test_generate_finra_sample_writes_the_layout_deterministically(tmp_path):
    out = StringIO()
    args = ["--weeks", "2", "--tiers", "T1,OTC", "--rows", "50", "--seed", "3"]
    call_command(
        "generate_finra_sample",
        *args,
        "--end-week",
        "2025-12-12",
        "--out",
        str(tmp_path / "a"),
        stdout=out,
    )
    call_command(
        "generate_finra_sample",
        *args,
        "--end-week",
        "2025-12-12",
        "--out",
        str(tmp_path / "b"),
        stdout=StringIO(),
    )

    files = digest(tmp_path / "a")
    assert list(files) == [
        "2025-12-05/NMS_TIER_1.psv",
        "2025-12-05/OTC.psv",
        "2025-12-12/NMS_TIER_1.psv",
        "2025-12-12/OTC.psv",
    ]
    assert files == digest(tmp_path / "b")
    assert "4 file(s) for 2 week(s) ending 2025-12-05..2025-12-12" in out.getvalue()
    parsed = parse_weekly_file(
        (tmp_path / "a/2025-12-12/OTC.psv").read_bytes(), week_ending="2025-12-12", tier="OTC"
    )
    assert parsed.row_count == 50


def test_generate_finra_sample_restatement_writes_a_revision(tmp_path):
    call_command(
        "generate_finra_sample",
        "--weeks",
        "1",
        "--tiers",
        "OTC",
        "--rows",
        "100",
        "--end-week",
        "2025-12-12",
        "--restatement",
        "--out",
        str(tmp_path),
        stdout=StringIO(),
    )
    first = (tmp_path / "2025-12-12/OTC.psv").read_bytes()
    revised = (tmp_path / "2025-12-12/OTC.r1.psv").read_bytes()
    assert first != revised
    assert first.count(b"\n") == revised.count(b"\n")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--weeks", "0"], "--weeks must be at least 1"),
        (["--rows", "-1"], "--rows must be at least 1"),
        (["--tiers", "T1,T9"], "--tiers: unknown tier 'T9'"),
        (["--end-week", "2025-12-08"], "--end-week: week_ending 2025-12-08 is a Monday"),
    ],
)
def test_generate_finra_sample_refuses_bad_flags(tmp_path, flags, message):
    with pytest.raises(CommandError, match=message):
        call_command("generate_finra_sample", *flags, "--out", str(tmp_path))
    assert not list(tmp_path.iterdir())


def test_demo_expects_every_stage_of_the_shipped_weeks(tmp_path):
    for name in (
        "2025-11-14/OTC.psv",
        "2025-12-05/NMS_TIER_1.psv",
        "2025-12-05/NMS_TIER_2.psv",
        "2025-12-05/OTC.psv",
        "notes/OTC.psv",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    partitions = shipped_partitions(tmp_path)
    assert partitions == [
        ("2025-11-14", "OTC"),
        ("2025-12-05", "NMS_TIER_1"),
        ("2025-12-05", "NMS_TIER_2"),
        ("2025-12-05", "OTC"),
    ]
    expected = expected_stages(partitions)
    assert len(expected) == 4 * 5 + 1  # five tier stages per file, one split for the full week
    assert ('{"week_ending":"2025-12-05"}', "TIER_SPLIT") in expected
    assert ('{"week_ending":"2025-11-14"}', "TIER_SPLIT") not in expected


def test_shipped_sample_set_is_small_and_parses():
    from django.conf import settings

    root = settings.BASE_DIR / "data" / "finra"
    files = sorted(root.rglob("*.psv"))
    assert sum(p.stat().st_size for p in files) < 2 * 1024 * 1024
    for path in files:
        week, tier = path.parent.name, path.stem
        parsed = parse_weekly_file(path.read_bytes(), week_ending=week, tier=tier)
        assert parsed.row_count > 0
        # Each file sits under the week it holds: FINRA published it on the calendar's date.
        assert parsed.source_last_update_date == expected_publication_date(week, tier), path
    assert (root / "2025-11-14" / "OTC.psv").read_bytes() == REAL_FILE.read_bytes()


def test_shipped_generated_weeks_are_what_the_documented_command_writes(tmp_path, settings):
    call_command(
        "generate_finra_sample",
        *("--weeks", "2", "--rows", "2000", "--seed", "42", "--end-week", "2025-12-05"),
        *("--out", str(tmp_path)),
        stdout=StringIO(),
    )
    shipped = digest(settings.BASE_DIR / "data" / "finra")
    generated = digest(tmp_path)
    assert len(generated) == 6
    assert {name: shipped.get(name) for name in generated} == generated
