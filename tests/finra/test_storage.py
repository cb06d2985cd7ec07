"""Capture semantics: replace on the same day, coexist across days, latest and as-of reads."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
import time_machine
from django.db import connection, transaction

from finra import selectors, storage
from finra.models import Capture, CaptureStatus, NormalizedRow, RawRow, Stage, SymbolHHIRow
from finra.parsing import parse_weekly_file
from tests.finra import reference
from tests.finra.conftest import REAL_FILE, REAL_WEEK, enqueue, run_queue
from workqueue.models import Execution, ExecutionOutcome, ManifestEntry, WorkItem
from workqueue.states import WorkState

pytestmark = pytest.mark.django_db

WEEK = "2025-11-28"
DAY_1 = datetime(2025, 12, 29, 10, 30, tzinfo=UTC)
DAY_2 = datetime(2026, 1, 5, 10, 30, tzinfo=UTC)
KEY = {"week_ending": WEEK, "tier": "NMS_TIER_1"}


def ingest(**params) -> WorkItem:
    item = enqueue("ingest_week", KEY, params=params, reprocess=True)
    run_queue()
    item.refresh_from_db()
    return item


def table_counts() -> dict[str, int]:
    with connection.cursor() as cursor:
        counts = {}
        for name in ("raw", "normalized", "symbol_hhi", "venue_share", "symbol_venue_share"):
            cursor.execute(f"SELECT count(*) FROM finra_otc_transparency_{name}")
            counts[name] = cursor.fetchone()[0]
        return counts


def test_same_day_rerun_replaces_the_capture_with_identical_counts(place_generated):
    place_generated(WEEK, "NMS_TIER_1", rows=500)
    with time_machine.travel(DAY_1, tick=False):
        assert ingest().state == WorkState.COMPLETE
        before = table_counts()
        assert before["raw"] == 500
        assert ingest(force=True).state == WorkState.COMPLETE

    assert table_counts() == before
    captures = Capture.objects.filter(stage=Stage.RAW)
    assert list(captures.values_list("capture_id", flat=True)) == [
        "finra.otc_transparency:NMS_TIER_1:2025-11-28:20251229"
    ]
    assert ManifestEntry.objects.filter(stage="RAW").count() == 1


def test_identical_content_is_skipped_unless_forced(place_generated):
    place_generated(WEEK, "NMS_TIER_1", rows=200)
    with time_machine.travel(DAY_1, tick=False):
        ingest()
    with time_machine.travel(DAY_2, tick=False):
        item = ingest()

    assert item.state == WorkState.COMPLETE
    execution = Execution.objects.filter(work_item=item).latest("id")
    assert execution.outcome == ExecutionOutcome.SKIPPED
    assert "content unchanged since capture" in execution.details["message"]
    assert RawRow.objects.count() == 200  # nothing new written
    skipped = Capture.objects.get(status=CaptureStatus.SKIPPED)
    assert skipped.capture_id.endswith(":20260105")
    assert skipped.metrics["same_content_as"].endswith(":20251229")
    latest = selectors.capture_latest(stage=Stage.RAW, week_ending=WEEK, tier="NMS_TIER_1")
    assert latest.capture_id.endswith(":20251229")

    with time_machine.travel(DAY_2, tick=False):
        forced = ingest(force=True)
    assert Execution.objects.filter(work_item=forced).latest("id").outcome == "SUCCESS"
    latest = selectors.capture_latest(stage=Stage.RAW, week_ending=WEEK, tier="NMS_TIER_1")
    assert latest.capture_id.endswith(":20260105")
    assert latest.status == CaptureStatus.COMPLETE
    assert RawRow.objects.count() == 400


def test_next_day_restatement_coexists_and_latest_reads_the_newest(place_generated):
    place_generated(WEEK, "NMS_TIER_1", rows=400)
    with time_machine.travel(DAY_1, tick=False):
        ingest()
    old_total = NormalizedRow.objects.aggregate(total=models_sum("share_quantity"))["total"]
    place_generated(WEEK, "NMS_TIER_1", rows=400, revision=1)  # FINRA restates the week
    with time_machine.travel(DAY_2, tick=False):
        ingest()

    old_id = "finra.otc_transparency:NMS_TIER_1:2025-11-28:20251229"
    new_id = "finra.otc_transparency:NMS_TIER_1:2025-11-28:20260105"
    for stage in (Stage.RAW, Stage.NORMALIZED, Stage.VENUE_VOLUME, Stage.VENUE_SHARE, Stage.HHI):
        assert set(Capture.objects.filter(stage=stage).values_list("capture_id", flat=True)) == {
            old_id,
            new_id,
        }, stage
    assert RawRow.objects.count() == 800  # both captures kept

    # The views keep only the newest capture.
    with connection.cursor() as cursor:
        for view in ("raw", "normalized", "symbol_hhi", "venue_share", "tier_hhi", "rejects"):
            cursor.execute(f"SELECT DISTINCT capture_id FROM finra_otc_transparency_{view}_latest")
            assert cursor.fetchall() in ([(new_id,)], []), view
        cursor.execute("SELECT count(*) FROM finra_otc_transparency_raw_latest")
        assert cursor.fetchone()[0] == 400

    latest = selectors.dataset_rows(NormalizedRow, week_ending=WEEK, tier="T1")
    assert set(latest.values_list("capture_id", flat=True)) == {new_id}
    new_total = latest.aggregate(total=models_sum("share_quantity"))["total"]
    assert new_total != old_total

    # As-of reads return the older capture.
    by_id = selectors.dataset_rows(NormalizedRow, week_ending=WEEK, tier="T1", capture_id=old_id)
    assert by_id.aggregate(total=models_sum("share_quantity"))["total"] == old_total
    as_of = selectors.dataset_rows(
        NormalizedRow,
        week_ending=WEEK,
        tier="NMS_TIER_1",
        as_of=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert set(as_of.values_list("capture_id", flat=True)) == {old_id}
    before_any = selectors.dataset_rows(
        NormalizedRow, week_ending=WEEK, tier="NMS_TIER_1", as_of=datetime(2025, 1, 1, tzinfo=UTC)
    )
    assert not before_any.exists()
    with pytest.raises(selectors.CaptureNotFound):
        selectors.dataset_rows(NormalizedRow, week_ending=WEEK, tier="OTC", capture_id=old_id)

    history = reference.symbol_history(SymbolHHIRow, symbol="NA")
    assert set(history.values_list("capture_id", flat=True)) == {new_id}


def models_sum(column: str):
    from django.db.models import Sum

    return Sum(column)


def test_a_failed_write_leaves_the_previous_rows_untouched(place_file):
    place_file(REAL_WEEK, "OTC", REAL_FILE)
    enqueue("ingest_week", {"week_ending": REAL_WEEK, "tier": "OTC"})
    run_queue()
    capture_id = Capture.objects.get(stage=Stage.RAW).capture_id
    bad = pd.DataFrame({"line_number": [1]})  # lacks the other columns

    with pytest.raises(ValueError, match="frame lacks columns"), transaction.atomic():
        storage.delete_capture(RawRow, capture_id)
        storage.replace_capture_rows(RawRow, capture_id=capture_id, constants={}, frame=bad)
    assert RawRow.objects.filter(capture_id=capture_id).count() == 5328


@pytest.mark.django_db(transaction=True)
def test_replace_outside_a_transaction_is_refused():
    with pytest.raises(RuntimeError, match=r"inside transaction\.atomic"):
        storage.replace_capture_rows(RawRow, capture_id="x", constants={}, frame=pd.DataFrame())


def test_values_with_quotes_commas_and_line_breaks_round_trip(data_dir):
    frame = pd.DataFrame(
        {
            "line_number": [2, 3, 4],
            "tier_description": ["OTC", "OTC", "OTC"],
            "symbol": ["", "NA", "KKR$D"],
            "issue_name": ['Trust "Units", A', "two  spaces", "cr\rin | name\x01"],
            "participant_name": ["De Minimis Firms", "OTCN X", "Y"],
            "mpid": ["", "OTCN", "Y"],
            "share_quantity": [1, 2, 9_223_372_036_854_775_807],
            "trade_count": [0, 1, 2],
            "last_update_date": ["2025-12-15"] * 3,
        }
    )
    constants = {
        "captured_at": DAY_1,
        "week_ending": datetime(2025, 12, 12).date(),
        "tier": "OTC",
    }
    with transaction.atomic():
        storage.replace_capture_rows(RawRow, capture_id="c1", constants=constants, frame=frame)
    back = reference.read_capture_frame(
        RawRow, capture_id="c1", columns=list(frame.columns), order_by=["line_number"]
    )
    back["last_update_date"] = back["last_update_date"].astype(str)
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)


@pytest.mark.parametrize("bad_line", [False, True])
def test_stored_raw_rows_are_the_parsed_rows(place_generated, bad_line):
    """PostgreSQL streams a clean file's lines straight into COPY; with a rejected line it
    writes the parsed rows instead. Either way the stored rows are the parser's."""
    path = place_generated(WEEK, "NMS_TIER_1", rows=300)
    lines = path.read_bytes().split(b"\n")
    first = lines[1].split(b"|")
    first[1], first[4] = b"", b""  # an empty symbol and a blank MPID stay empty strings
    lines[1] = b"|".join(first)
    if bad_line:
        lines[5] = b"not|a|row"
    path.write_bytes(b"\n".join(lines))
    with time_machine.travel(DAY_1, tick=False):
        assert ingest().state == WorkState.COMPLETE
    parsed = parse_weekly_file(path.read_bytes(), week_ending=WEEK, tier="NMS_TIER_1")
    capture_id = Capture.objects.get(stage=Stage.RAW).capture_id
    columns = list(parsed.frame.columns)
    back = reference.read_capture_frame(
        RawRow, capture_id=capture_id, columns=columns, order_by=["line_number"]
    )
    back["last_update_date"] = back["last_update_date"].astype(str)
    pd.testing.assert_frame_equal(back, parsed.frame, check_dtype=False)
    assert back.loc[0, "symbol"] == "" and back.loc[0, "mpid"] == ""
    assert Capture.objects.get(stage=Stage.RAW).reject_count == int(bad_line)


@pytest.mark.parametrize("hints", [True, False], ids=["ingest-hints", "no-hints"])
def test_repeated_symbol_venue_lines_are_summed_by_the_database(place_generated, hints):
    """FINRA should never repeat a (symbol, venue) in a week; if it does, normalization sums
    the repeats and keeps the text of the first line. Ingest counts the repeats for the RAW
    capture; a RAW capture without that count (written before it existed) is checked in
    the database."""
    path = place_generated(WEEK, "NMS_TIER_1", rows=300)
    lines = path.read_bytes().rstrip(b"\n").split(b"\n")
    repeat = lines[3].split(b"|")
    repeat[2] = b"Another  Name"  # the first line's text wins
    lines.append(b"|".join(repeat))
    path.write_bytes(b"\n".join(lines) + b"\n")
    with time_machine.travel(DAY_1, tick=False):
        assert ingest().state == WorkState.COMPLETE
        raw = Capture.objects.get(stage=Stage.RAW)
        assert raw.metrics["normalize_hints"]["repeated_keys"] == 1
        if not hints:
            del raw.metrics["normalize_hints"]
            raw.save()
        enqueue("normalize_week", KEY, reprocess=True)
        run_queue()
    capture = Capture.objects.get(stage=Stage.NORMALIZED)
    assert capture.metrics == {"merged_duplicates": 1, "raw_rows": 301}
    assert capture.row_count == 300
    first = lines[3].split(b"|")
    row = NormalizedRow.objects.get(
        symbol=first[1].decode().strip().upper(), mpid=first[4].decode()
    )
    assert row.share_quantity == 2 * int(first[5])
    assert row.issue_name == " ".join(first[2].decode().split())


@pytest.mark.skipif(connection.vendor != "postgresql", reason="partitions are PostgreSQL's")
def test_each_capture_is_one_partition_replaced_in_place(place_generated):
    from finra.partitions import partition_name

    def partitions(table: str) -> set[str]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " WHERE i.inhparent = %s::regclass",
                [table],
            )
            return {name for (name,) in cursor.fetchall()}

    place_generated(WEEK, "NMS_TIER_1", rows=200)
    with time_machine.travel(DAY_1, tick=False):
        assert ingest().state == WorkState.COMPLETE
        first = Capture.objects.get(stage=Stage.RAW).capture_id
        assert ingest(force=True).state == WorkState.COMPLETE
    assert partitions("finra_otc_transparency_raw") == {
        partition_name("finra_otc_transparency_raw", first)
    }
    place_generated(WEEK, "NMS_TIER_1", rows=200, revision=1)
    with time_machine.travel(DAY_2, tick=False):
        assert ingest().state == WorkState.COMPLETE
    ids = set(Capture.objects.filter(stage=Stage.RAW).values_list("capture_id", flat=True))
    assert len(ids) == 2
    assert partitions("finra_otc_transparency_raw") == {
        partition_name("finra_otc_transparency_raw", capture_id) for capture_id in ids
    }
    assert RawRow.objects.count() == 400
    # Every stored line of both captures, each once.
    assert len(set(RawRow.objects.values_list("capture_id", "line_number"))) == 400


@pytest.mark.skipif(connection.vendor != "postgresql", reason="partitions are PostgreSQL's")
def test_captures_have_planner_statistics_as_soon_as_they_are_written(place_generated):
    # Without them the planner takes a fresh capture for an empty table, and the first reads
    # of a large week (the data API's pages) get nested loops and on-disk sorts.
    from finra.storage import ANALYZED_TABLES

    place_generated(WEEK, "NMS_TIER_1", rows=300)
    assert ingest().state == WorkState.COMPLETE
    with connection.cursor() as cursor:
        for table in sorted(ANALYZED_TABLES):
            cursor.execute(
                "SELECT c.relname, c.reltuples FROM pg_inherits i"
                " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
                [table],
            )
            for partition, estimated in cursor.fetchall():
                cursor.execute(f"SELECT count(*) FROM {partition}")
                # -1: never analyzed. A small capture is sampled whole: the count is exact.
                assert estimated == cursor.fetchone()[0], partition
    assert {"finra_otc_transparency_normalized", "finra_otc_transparency_symbol_hhi"} <= (
        ANALYZED_TABLES
    )
