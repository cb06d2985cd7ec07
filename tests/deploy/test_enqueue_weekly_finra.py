"""scripts/enqueue_weekly_finra.py, run as its own process against a live server."""

from __future__ import annotations

import json
from datetime import date

import pytest

from tests.deploy.conftest import ENQUEUE_PY, LIVE_DB, python, run
from workqueue.models import WorkItem

DOMAIN = "finra.otc_transparency"
TIERS = ["NMS_TIER_1", "NMS_TIER_2", "OTC"]


def enqueue(*args: str, env: dict[str, str] | None = None):
    return run([python(), str(ENQUEUE_PY), *args], env=env)


def ingest_partitions() -> list[dict]:
    items = WorkItem.objects.filter(domain=DOMAIN, pipeline="ingest_week").order_by("id")
    return [item.partition_key for item in items]


@LIVE_DB
def test_enqueues_the_weeks_three_tiers_with_the_token_from_the_environment(server):
    result = enqueue(
        "--week-ending", "2025-12-19", "--api-base", server.api_base,
        env={"MARKET_SPINE_TOKEN": server.token},
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert ingest_partitions() == [{"week_ending": "2025-12-19", "tier": tier} for tier in TIERS]
    assert set(WorkItem.objects.values_list("state", flat=True)) == {"PENDING"}
    assert " created ingest_week 2025-12-19 OTC: work item " in result.stdout
    assert "Enqueued FINRA OTC ingest for week ending 2025-12-19" in result.stdout


@LIVE_DB
def test_token_flag_tiers_and_priority(server):
    result = enqueue(
        "--week-ending", "2025-12-12", "--api-base", server.api_base, "--token", server.token,
        "--tiers", "OTC", "NMS_TIER_2", "--priority", "250",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert ingest_partitions() == [
        {"week_ending": "2025-12-12", "tier": "OTC"},
        {"week_ending": "2025-12-12", "tier": "NMS_TIER_2"},
    ]
    assert set(WorkItem.objects.values_list("priority", flat=True)) == {250}


@LIVE_DB
def test_running_twice_reports_the_existing_items(server):
    args = ["--week-ending", "2025-12-19", "--api-base", server.api_base, "--token", server.token]
    enqueue(*args)

    again = enqueue(*args)

    assert again.returncode == 0, again.stderr
    assert again.stdout.count("existing ingest_week 2025-12-19") == 3
    assert WorkItem.objects.count() == 3


@LIVE_DB
def test_a_wrong_token_exits_1_with_the_servers_message(server):
    result = enqueue(
        "--week-ending", "2025-12-19", "--api-base", server.api_base, "--token", "not-a-token"
    )

    assert result.returncode == 1
    assert "HTTP 401" in result.stderr
    assert "Invalid token" in result.stderr
    assert not WorkItem.objects.exists()


def test_a_monday_exits_2_naming_the_friday_before():
    result = enqueue("--week-ending", "2025-12-22", "--token", "t")

    assert result.returncode == 2
    assert (
        "2025-12-22 is a Monday; week endings are Fridays (the Friday before it is 2025-12-19)"
        in result.stderr
    )


@pytest.mark.parametrize("text", ["2025-12-32", "12/19/2025", "20251219"])
def test_a_non_date_exits_2(text):
    result = enqueue("--week-ending", text, "--token", "t")

    assert result.returncode == 2
    assert f"{text!r} is not a date (YYYY-MM-DD)" in result.stderr


def test_no_token_exits_2_and_says_where_to_put_it():
    result = enqueue("--week-ending", "2025-12-19")

    assert result.returncode == 2
    assert "no API token: pass --token or set MARKET_SPINE_TOKEN" in result.stderr


def test_unreachable_api_exits_1():
    result = enqueue(
        "--week-ending", "2025-12-19", "--token", "t", "--api-base", "http://127.0.0.1:9"
    )

    assert result.returncode == 1
    assert "cannot reach http://127.0.0.1:9/work/enqueue" in result.stderr


def test_dry_run_prints_one_bulk_body_and_sends_nothing():
    result = enqueue("--week-ending", "2025-12-19", "--dry-run", "--api-base", "http://127.0.0.1:9")

    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout.split(":\n", 1)[1])
    assert [item["partition_key"] for item in body] == [
        {"week_ending": "2025-12-19", "tier": tier} for tier in TIERS
    ]
    assert {item["pipeline"] for item in body} == {"ingest_week"}


def test_default_week_is_the_last_completed_friday():
    import importlib.util

    spec = importlib.util.spec_from_file_location("enqueue_weekly_finra", ENQUEUE_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    assert module.last_completed_friday(date(2025, 12, 22)) == date(2025, 12, 19)  # Monday
    assert module.last_completed_friday(date(2025, 12, 19)) == date(2025, 12, 12)  # Friday
    assert module.last_completed_friday(date(2025, 12, 20)) == date(2025, 12, 19)  # Saturday
    assert module.last_completed_friday(date(2025, 12, 18)) == date(2025, 12, 12)  # Thursday
