"""The django-q2 schedule of the weekly scheduler: Mondays 10:30 New York, across DST."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django_q.conf import Conf
from django_q.models import Schedule

from finra.schedules import WEEKLY_SCHEDULE
from workqueue.schedules import SCHEDULES

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def weekly() -> Schedule:
    return Schedule.objects.get(name=WEEKLY_SCHEDULE.name)


def test_the_migration_created_it_and_setup_schedules_keeps_one():
    assert WEEKLY_SCHEDULE in SCHEDULES
    schedule = weekly()
    assert schedule.func == "finra.tasks.run_weekly_schedule"
    assert schedule.schedule_type == Schedule.CRON and schedule.cron == "30 10 * * 1"
    call_command("setup_schedules", stdout=io.StringIO())
    call_command("setup_schedules", stdout=io.StringIO())
    assert Schedule.objects.filter(name=WEEKLY_SCHEDULE.name).count() == 1


def test_a_new_schedule_waits_for_its_first_monday():
    Schedule.objects.filter(name=WEEKLY_SCHEDULE.name).delete()
    with time_machine.travel(datetime(2026, 3, 4, 12, 0, tzinfo=UTC), tick=False):
        call_command("setup_schedules", stdout=io.StringIO())
    assert weekly().next_run == datetime(2026, 3, 9, 14, 30, tzinfo=UTC)


@pytest.mark.parametrize("server_zone", ["UTC", "Asia/Tokyo"])
@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # US daylight saving starts Sunday 2026-03-08: 10:30 EST is 15:30 UTC, 10:30 EDT 14:30.
        (datetime(2026, 3, 2, 16, 0, tzinfo=UTC), datetime(2026, 3, 9, 14, 30, tzinfo=UTC)),
        (datetime(2026, 2, 24, 0, 0, tzinfo=UTC), datetime(2026, 3, 2, 15, 30, tzinfo=UTC)),
        (datetime(2026, 3, 9, 14, 31, tzinfo=UTC), datetime(2026, 3, 16, 14, 30, tzinfo=UTC)),
        # It ends Sunday 2026-11-01: back to 15:30 UTC.
        (datetime(2026, 10, 26, 15, 0, tzinfo=UTC), datetime(2026, 11, 2, 15, 30, tzinfo=UTC)),
        (datetime(2026, 10, 19, 16, 0, tzinfo=UTC), datetime(2026, 10, 26, 14, 30, tzinfo=UTC)),
        # Monday 00:30 Tokyo is still Sunday in New York: that Monday's run is still ahead.
        (datetime(2026, 11, 8, 15, 30, tzinfo=UTC), datetime(2026, 11, 9, 15, 30, tzinfo=UTC)),
    ],
)
def test_next_run_is_10_30_new_york_across_dst(settings, server_zone, now, expected):
    settings.TIME_ZONE = server_zone
    schedule = weekly()
    with time_machine.travel(now, tick=False):
        next_run = schedule.calculate_next_run()
    assert next_run.astimezone(UTC) == expected
    assert Conf.TIME_ZONE == "America/New_York"
    local = next_run.astimezone(ZoneInfo("America/New_York"))
    assert (local.weekday(), local.hour, local.minute) == (0, 10, 30)


def test_the_cluster_evaluates_cron_in_new_york_whatever_time_zone():
    code = "import django; django.setup(); from django_q.conf import Conf; print(Conf.TIME_ZONE)"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "marketspine.settings",
        "TIME_ZONE": "Asia/Tokyo",
        "DEBUG": "1",
    }
    env.pop("QCLUSTER_TIME_ZONE", None)
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "America/New_York"
