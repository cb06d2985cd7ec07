"""deploy/cron/weekly_finra.sh, run with bash as cron would, against a live server."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.deploy.conftest import LIVE_DB, WEEKLY_SH, run
from workqueue.models import WorkItem

DOMAIN = "finra.otc_transparency"
TIERS = ["NMS_TIER_1", "NMS_TIER_2", "OTC"]


def weekly(*args: str, env: dict[str, str] | None = None):
    return run(["bash", str(WEEKLY_SH), *args], env=env)


def ingest_items() -> list[WorkItem]:
    return list(WorkItem.objects.filter(domain=DOMAIN, pipeline="ingest_week").order_by("id"))


@LIVE_DB
def test_enqueues_ingest_for_the_three_tiers_of_the_given_week(server):
    result = weekly(
        "--week-ending", "2025-12-19",
        env={"API_BASE": server.api_base, "MARKET_SPINE_TOKEN": server.token},
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    items = ingest_items()
    assert [item.partition_key for item in items] == [
        {"week_ending": "2025-12-19", "tier": tier} for tier in TIERS
    ]
    assert [item.params for item in items] == [{"tier": tier} for tier in TIERS]
    assert {item.state for item in items} == {"PENDING"}
    assert WorkItem.objects.count() == 3  # normalize and calcs come by chaining
    printed = json.loads(result.stdout.splitlines()[0])
    assert [entry["status"] for entry in printed] == ["created"] * 3
    assert "Enqueued FINRA OTC ingest_week for week ending 2025-12-19" in result.stdout


@LIVE_DB
def test_default_week_is_the_last_completed_friday_in_new_york(server):
    result = weekly(
        "--api-base", server.api_base, "--tiers", "OTC", env={"MARKET_SPINE_TOKEN": server.token}
    )

    assert result.returncode == 0, result.stderr
    today = datetime.now(ZoneInfo("America/New_York")).date()
    friday = today - timedelta(days=(today.weekday() - 4) % 7 or 7)
    [item] = ingest_items()
    assert item.partition_key == {"week_ending": friday.isoformat(), "tier": "OTC"}


@LIVE_DB
def test_week_and_priority_from_the_environment_and_a_rerun_is_harmless(server):
    env = {
        "API_BASE": server.api_base,
        "MARKET_SPINE_TOKEN": server.token,
        "WEEK_ENDING": "2025-12-12",
        "PRIORITY": "40",
    }
    weekly(env=env)

    again = weekly(env=env)

    assert again.returncode == 0, again.stderr
    assert [e["status"] for e in json.loads(again.stdout.splitlines()[0])] == ["existing"] * 3
    assert [(i.partition_key["week_ending"], i.priority) for i in ingest_items()] == [
        ("2025-12-12", 40)
    ] * 3


@LIVE_DB
def test_a_wrong_token_exits_1_with_the_servers_message(server):
    result = weekly(
        "--week-ending", "2025-12-19", "--api-base", server.api_base,
        env={"MARKET_SPINE_TOKEN": "not-a-token"},
    )  # fmt: skip

    assert result.returncode == 1
    assert "HTTP 401 from" in result.stderr
    assert '"message":"Invalid token."' in result.stderr
    assert not WorkItem.objects.exists()


@LIVE_DB
def test_the_servers_refusal_is_printed_and_nothing_is_enqueued(server):
    result = weekly(
        "--week-ending", "2025-12-19", "--api-base", server.api_base, "--tiers", "OTC NMS_TIER_9",
        env={"MARKET_SPINE_TOKEN": server.token},
    )  # fmt: skip

    assert result.returncode == 1
    assert "HTTP 400 from" in result.stderr
    assert "unknown tier 'NMS_TIER_9'" in result.stderr
    assert not WorkItem.objects.exists()


def test_no_token_exits_non_zero_and_says_how_to_get_one():
    result = weekly("--week-ending", "2025-12-19")

    assert result.returncode == 2
    assert "MARKET_SPINE_TOKEN is not set" in result.stderr
    assert "manage.py create_api_token USER" in result.stderr


def test_a_monday_exits_2_naming_the_friday_before():
    result = weekly("--week-ending", "2025-12-22", env={"MARKET_SPINE_TOKEN": "t"})

    assert result.returncode == 2
    assert (
        "week ending 2025-12-22 is a Monday; week endings are Fridays "
        "(the Friday before it is 2025-12-19)"
    ) in result.stderr


@pytest.mark.parametrize("text", ["2025-12-19x", "2025-02-30", "19/12/2025"])
def test_a_non_date_exits_2(text):
    result = weekly("--week-ending", text, env={"MARKET_SPINE_TOKEN": "t"})

    assert result.returncode == 2
    assert f"week ending '{text}' is not a date" in result.stderr


def test_an_unknown_argument_exits_2():
    result = weekly("--wait", "300", env={"MARKET_SPINE_TOKEN": "t"})

    assert result.returncode == 2
    assert "unknown argument: --wait" in result.stderr


def test_unreachable_api_exits_1():
    result = weekly(
        "--week-ending", "2025-12-19", "--api-base", "http://127.0.0.1:9",
        env={"MARKET_SPINE_TOKEN": "t"},
    )  # fmt: skip

    assert result.returncode == 1
    assert "cannot reach http://127.0.0.1:9" in result.stderr
