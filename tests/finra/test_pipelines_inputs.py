"""Bad input through ingest_week: corpus files, partition keys, params and sources."""

from __future__ import annotations

import os
import sys
import types

import pytest
from django.db import connection

import finra.sources
from finra.models import Capture, RejectRow
from finra.sources import NotPublishedYet, SourceContent
from finra.sources import url as url_source
from tests.finra.conftest import CORPUS, CORPUS_WEEK, REAL_FILE, REAL_WEEK, enqueue, run_queue
from tests.finra.test_parsing import CORPUS_ROWS
from workqueue.exceptions import InvalidParams, InvalidPartitionKey
from workqueue.models import ManifestEntry, WorkItem
from workqueue.states import WorkState

pytestmark = pytest.mark.django_db

OTC_KEY = {"week_ending": CORPUS_WEEK, "tier": "OTC"}
REAL_OTC_KEY = {"week_ending": REAL_WEEK, "tier": "OTC"}
DATASETS = (
    "captures",
    "raw",
    "rejects",
    "normalized",
    "venue_volume",
    "venue_share",
    "symbol_venue_share",
    "symbol_hhi",
    "tier_hhi",
    "tier_split",
)


def snapshot() -> dict[str, int]:
    counts = {"manifest": ManifestEntry.objects.count()}
    with connection.cursor() as cursor:
        for name in DATASETS:
            cursor.execute(f"SELECT count(*) FROM finra_otc_transparency_{name}")
            counts[name] = cursor.fetchone()[0]
    return counts


def test_corpus_covers_at_least_fifteen_bad_files():
    assert len(CORPUS_ROWS) >= 15


@pytest.mark.parametrize(
    ("file_name", "fragment"),
    [(name, fragment) for name, outcome, fragment in CORPUS_ROWS if outcome == "error"],
)
def test_structural_errors_fail_the_item_and_change_nothing(place_file, file_name, fragment):
    # A good capture of another week exists: the bad file must not touch it either.
    place_file(REAL_WEEK, "OTC", REAL_FILE)
    enqueue("ingest_week", REAL_OTC_KEY)
    run_queue()
    before = snapshot()
    place_file(CORPUS_WEEK, "OTC", CORPUS / file_name)

    item = enqueue("ingest_week", OTC_KEY)
    run_queue()

    item.refresh_from_db()
    assert item.state == WorkState.FAILED
    assert item.attempt_count == 1  # a bad file is not retried
    assert fragment in item.last_error
    assert "file:2025-12-12/OTC.psv" in item.last_error
    assert snapshot() == before


@pytest.mark.parametrize(
    ("file_name", "line", "fragment"),
    [
        (name, int(outcome.removeprefix("reject line ")), fragment)
        for name, outcome, fragment in CORPUS_ROWS
        if outcome.startswith("reject line")
    ],
)
def test_rejected_rows_are_stored_and_the_rest_captured(
    place_file, settings, file_name, line, fragment
):
    settings.FINRA_MAX_REJECT_RATIO = 1.0  # one bad row of three is far above the default
    place_file(CORPUS_WEEK, "OTC", CORPUS / file_name)
    item = enqueue("ingest_week", OTC_KEY)
    run_queue()

    item.refresh_from_db()
    assert item.state == WorkState.COMPLETE
    reject = RejectRow.objects.get()
    assert reject.line_number == line
    assert fragment in reject.reason
    assert reject.raw_line
    capture = Capture.objects.get(stage="RAW")
    assert capture.reject_count == 1
    assert capture.row_count == 2


def test_a_rejected_row_above_the_default_ratio_fails_and_changes_nothing(place_file):
    place_file(CORPUS_WEEK, "OTC", CORPUS / "negative_share_quantity.psv")
    item = enqueue("ingest_week", OTC_KEY)
    run_queue()
    item.refresh_from_db()
    assert item.state == WorkState.FAILED
    assert "reject ratio 0.333 exceeds the limit 0.01" in item.last_error
    assert snapshot() == dict.fromkeys(("manifest", *DATASETS), 0)


# --- partition keys and params --------------------------------------------------------------


def test_tier_spellings_are_one_partition():
    first = enqueue("ingest_week", {"week_ending": CORPUS_WEEK, "tier": "T1"})
    second = enqueue("ingest_week", {"tier": "NMS_TIER_1", "week_ending": CORPUS_WEEK})
    assert first.pk == second.pk
    assert first.partition_key == {"tier": "NMS_TIER_1", "week_ending": CORPUS_WEEK}


@pytest.mark.parametrize(
    ("key", "field", "fragment"),
    [
        ({"week_ending": "2025-12-22", "tier": "OTC"}, "week_ending", "is a Monday"),
        ({"week_ending": "12/12/2025", "tier": "OTC"}, "week_ending", "not an ISO date"),
        (
            {"week_ending": CORPUS_WEEK, "tier": "T9"},
            "tier",
            "unknown tier 'T9'; known tiers: NMS_TIER_1, NMS_TIER_2, OTC",
        ),
        ({"week_ending": CORPUS_WEEK}, "tier", "missing tier"),
    ],
)
def test_bad_partition_keys_are_refused_at_enqueue(key, field, fragment):
    with pytest.raises(InvalidPartitionKey) as caught:
        enqueue("ingest_week", key)
    assert fragment in caught.value.message
    assert f"partition_key.{field}" in caught.value.fields
    assert not WorkItem.objects.exists()


def test_params_tier_must_agree_with_the_partition(place_file):
    place_file(REAL_WEEK, "OTC", REAL_FILE)
    agreeing = enqueue("ingest_week", REAL_OTC_KEY, params={"tier": "OTCE"})
    run_queue()
    agreeing.refresh_from_db()
    assert agreeing.state == WorkState.COMPLETE

    with pytest.raises(InvalidParams) as caught:
        enqueue(
            "ingest_week", {"week_ending": REAL_WEEK, "tier": "NMS_TIER_1"}, params={"tier": "OTC"}
        )
    assert "tier: 'OTC' (OTC) disagrees with the partition's tier NMS_TIER_1" in (
        caught.value.message
    )
    assert list(caught.value.fields) == ["params.tier"]
    assert not WorkItem.objects.filter(partition_key__contains="NMS_TIER_1").exists()


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({"file_pth": "2025-12-12/OTC.psv"}, {"params.file_pth"}),
        ({"force": "yes"}, {"params.force"}),
        ({"chain": 0}, {"params.chain"}),
        ({"tier": "T9"}, {"params.tier"}),
        ({"source": "ftp"}, {"params.source"}),
        ({"file_url": "https://evil.example/otc.psv"}, {"params.file_url"}),
        ({"file_url": "ftp://finra.org/otc.psv"}, {"params.file_url"}),
        ({"file_path": "2025-12-12/missing.psv"}, {"params.file_path"}),
        (
            {"file_path": "2025-12-12/OTC.psv", "file_url": "https://finra.org/x.psv"},
            {"params.file_path", "params.file_url"},
        ),
        (
            {"source": "api", "file_path": "2025-12-12/OTC.psv"},
            {"params.file_path", "params.source"},
        ),
    ],
)
def test_bad_params_are_refused_at_enqueue_and_nothing_is_written(place_file, params, fields):
    place_file(CORPUS_WEEK, "OTC", REAL_FILE)

    with pytest.raises(InvalidParams) as caught:
        enqueue("ingest_week", OTC_KEY, params=params)

    assert set(caught.value.fields) == fields
    for name in fields:
        assert name.removeprefix("params.") in caught.value.message
    assert not WorkItem.objects.exists()


def test_a_calc_takes_tier_and_chain_but_not_the_ingest_params():
    enqueue("compute_hhi", {"week_ending": CORPUS_WEEK}, params={"tier": "T1", "chain": False})

    with pytest.raises(InvalidParams) as caught:
        enqueue("compute_hhi", {"week_ending": CORPUS_WEEK, "tier": "OTC"}, params={"force": True})
    assert caught.value.fields == {"params.force": "unknown param (accepted: chain, tier)"}


# --- sources ----------------------------------------------------------------------------------


def test_missing_file_waits_without_spending_an_attempt(data_dir):
    item = enqueue("ingest_week", OTC_KEY)
    run_queue()
    item.refresh_from_db()
    assert item.state == WorkState.RETRY_WAIT
    assert item.attempt_count == 0
    assert "2025-12-12/OTC.psv not found" in item.last_error
    assert "FINRA publishes OTC about 4 weeks after the week ends" in item.last_error


@pytest.mark.parametrize("file_path", ["../outside.psv", "/etc/passwd", "2025-12-12/../../x"])
def test_file_path_outside_the_data_dir_is_refused_at_enqueue(data_dir, file_path):
    (data_dir.parent / "outside.psv").write_bytes(REAL_FILE.read_bytes())
    with pytest.raises(InvalidParams) as caught:
        enqueue("ingest_week", OTC_KEY, params={"file_path": file_path})
    assert f"file_path: {file_path!r} resolves outside FINRA_DATA_DIR" in caught.value.message
    assert str(data_dir) not in caught.value.message
    assert not WorkItem.objects.exists()


def test_symlink_out_of_the_data_dir_is_refused_at_enqueue(data_dir):
    outside = data_dir.parent / "outside.psv"
    outside.write_bytes(REAL_FILE.read_bytes())
    os.symlink(outside, data_dir / "link.psv")
    with pytest.raises(InvalidParams) as caught:
        enqueue("ingest_week", OTC_KEY, params={"file_path": "link.psv"})
    assert "'link.psv' resolves outside FINRA_DATA_DIR" in caught.value.message
    assert not WorkItem.objects.exists()


def test_a_file_path_removed_after_enqueue_fails_the_item_when_it_runs(data_dir):
    (data_dir / "drops").mkdir()
    (data_dir / "drops" / "otc.psv").write_bytes(REAL_FILE.read_bytes())
    item = enqueue("ingest_week", REAL_OTC_KEY, params={"file_path": "drops/otc.psv"})
    (data_dir / "drops" / "otc.psv").unlink()

    run_queue()

    item.refresh_from_db()
    assert (item.state, item.attempt_count) == (WorkState.FAILED, 1)
    assert item.last_error.startswith("NonRetryableError: params are no longer valid: ")
    assert "file_path: 'drops/otc.psv' is not a file in FINRA_DATA_DIR" in item.last_error
    assert snapshot() == dict.fromkeys(("manifest", *DATASETS), 0)


def test_a_host_taken_off_the_allowed_list_after_enqueue_fails_the_item(data_dir, settings):
    item = enqueue("ingest_week", REAL_OTC_KEY, params={"file_url": "https://finra.org/otc.psv"})
    settings.FINRA_ALLOWED_HOSTS = ["cdn.example.org"]

    run_queue()

    item.refresh_from_db()
    assert item.state == WorkState.FAILED
    assert "host finra.org is not in FINRA_ALLOWED_HOSTS" in item.last_error
    assert item.executions.get().outcome == "FAILED"


def test_file_path_inside_the_data_dir_is_read(data_dir):
    (data_dir / "drops").mkdir()
    (data_dir / "drops" / "otc.psv").write_bytes(REAL_FILE.read_bytes())
    item = enqueue("ingest_week", REAL_OTC_KEY, params={"file_path": "drops/otc.psv"})
    run_queue()
    item.refresh_from_db()
    assert item.state == WorkState.COMPLETE
    assert Capture.objects.get(stage="RAW").source_origin == "file:drops/otc.psv"


def fake_module(monkeypatch, name: str, **functions) -> None:
    module = types.ModuleType(f"finra.sources.{name}")
    for function_name, function in functions.items():
        setattr(module, function_name, function)
    monkeypatch.setitem(sys.modules, f"finra.sources.{name}", module)
    monkeypatch.setattr(finra.sources, name, module, raising=False)


def test_file_url_uses_the_url_source(data_dir, monkeypatch):
    calls = []

    def fetch_url(url: str) -> SourceContent:
        calls.append(url)
        return SourceContent(data=REAL_FILE.read_bytes(), origin=f"url:{url}")

    fake_module(
        monkeypatch, "url", fetch_url=fetch_url, check_url_allowed=url_source.check_url_allowed
    )
    url = "https://finra.org/otc_20251215.psv"
    item = enqueue("ingest_week", REAL_OTC_KEY, params={"file_url": url, "tier": "OTC"})
    run_queue()
    item.refresh_from_db()
    assert item.state == WorkState.COMPLETE
    assert calls == [url]
    assert Capture.objects.get(stage="RAW").source_origin == f"url:{url}"


def test_api_source_not_published_yet_waits(data_dir, monkeypatch):
    def fetch_weekly_summary(*, week_ending, tier):
        raise NotPublishedYet(f"FINRA API has no {tier} data for week {week_ending} yet (204)")

    fake_module(monkeypatch, "finra_api", fetch_weekly_summary=fetch_weekly_summary)
    item = enqueue("ingest_week", OTC_KEY, params={"source": "api"})
    run_queue()
    item.refresh_from_db()
    assert item.state == WorkState.RETRY_WAIT
    assert item.attempt_count == 0
    assert "no OTC data for week 2025-12-12 yet (204)" in item.last_error


def test_api_source_content_is_ingested(data_dir, monkeypatch):
    def fetch_weekly_summary(*, week_ending, tier):
        return SourceContent(data=REAL_FILE.read_bytes(), origin="api:weeklySummary tier=OTCE")

    fake_module(monkeypatch, "finra_api", fetch_weekly_summary=fetch_weekly_summary)
    item = enqueue("ingest_week", REAL_OTC_KEY, params={"source": "api"})
    run_queue()
    item.refresh_from_db()
    assert item.state == WorkState.COMPLETE
    assert Capture.objects.get(stage="RAW").row_count == 5328


def test_unknown_source_is_refused_at_enqueue(data_dir):
    with pytest.raises(InvalidParams) as caught:
        enqueue("ingest_week", OTC_KEY, params={"source": "ftp"})
    assert caught.value.fields == {"params.source": "must be one of file, api, not 'ftp'"}
    assert not WorkItem.objects.exists()
