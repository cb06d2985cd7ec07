"""Set up a laptop demo: a demo administrator, then the main job run for real.

Enqueues ``ingest_week`` for every week and tier shipped in FINRA_DATA_DIR, starts a django-q2
cluster (``manage.py qcluster``) as a child process and watches the queue until every stage of
those weeks is COMPLETE, printing progress. The chain does the rest: each ingest enqueues its
normalize, each normalize its calcs and, once a week's three tiers are in, the tier split.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from finra.models import DOMAIN, Stage
from finra.tiers import TIERS
from workqueue.fields import canonical_json
from workqueue.models import ApiToken, ManifestEntry, WorkItem
from workqueue.services import Actor, EnqueueRequest, work_items_enqueue
from workqueue.states import ACTIVE_STATES, WorkState
from workqueue.tokens import api_token_create, api_token_rotate

DEMO_USERNAME = os.environ.get("DEMO_USERNAME", "admin")
DEMO_PASSWORD = os.environ.get("DEMO_PASSWORD", "admin")
DEMO_TOKEN_NAME = "demo"
_WEEK_DIR = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIER_STAGES = (
    Stage.RAW,
    Stage.NORMALIZED,
    Stage.VENUE_VOLUME,
    Stage.VENUE_SHARE,
    Stage.HHI,
)


def shipped_partitions(data_dir: Path) -> list[tuple[str, str]]:
    """(week_ending, tier) of every <week>/<TIER>.psv file in the data directory."""
    found = []
    for week_dir in sorted(p for p in data_dir.iterdir() if p.is_dir()):
        if not _WEEK_DIR.fullmatch(week_dir.name):
            continue
        found += [(week_dir.name, t) for t in TIERS if (week_dir / f"{t}.psv").is_file()]
    return found


def expected_stages(partitions: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """(canonical partition key, stage) pairs the manifest must hold when the job is done."""
    expected: set[tuple[str, str]] = set()
    tiers_by_week: dict[str, set[str]] = {}
    for week, tier in partitions:
        key = f'{{"tier":"{tier}","week_ending":"{week}"}}'
        expected |= {(key, stage) for stage in _TIER_STAGES}
        tiers_by_week.setdefault(week, set()).add(tier)
    for week, tiers in tiers_by_week.items():
        if tiers == set(TIERS):
            expected.add((f'{{"week_ending":"{week}"}}', Stage.TIER_SPLIT))
    return expected


class Command(BaseCommand):
    help = "Create the demo administrator and run the FINRA weekly job on the shipped data."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait")
        parser.add_argument(
            "--no-cluster",
            action="store_true",
            help="only enqueue; a qcluster started elsewhere does the work",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("bootstrap_demo creates a known password: run it with DEBUG=true")
        self._demo_user()
        data_dir = Path(settings.FINRA_DATA_DIR)
        partitions = shipped_partitions(data_dir) if data_dir.is_dir() else []
        if not partitions:
            raise CommandError(
                f"no weekly files in {data_dir} (expected <week_ending>/<TIER>.psv); "
                "create some with: manage.py generate_finra_sample"
            )
        results = work_items_enqueue(
            requests=[
                EnqueueRequest(
                    domain=DOMAIN,
                    pipeline="ingest_week",
                    partition_key={"week_ending": week, "tier": tier},
                    reprocess=True,
                )
                for week, tier in partitions
            ],
            actor=Actor.cli(),
        )
        weeks = sorted({week for week, _ in partitions})
        self.stdout.write(
            f"queued ingest_week for {len(results)} file(s) in {data_dir}: weeks {', '.join(weeks)}"
        )
        cluster = None if options["no_cluster"] else self._start_cluster()
        try:
            self._watch(expected_stages(partitions), timeout=options["timeout"])
        finally:
            if cluster is not None:
                self._stop_cluster(cluster)
        self.stdout.write(self.style.SUCCESS("every stage of the shipped weeks is COMPLETE"))
        base = f"http://{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
        key = self._demo_token()
        self.stdout.write(
            f"admin: {base}/admin/  (login {DEMO_USERNAME} / {DEMO_PASSWORD})\n"
            f"API:   {base}/api/v1/  docs: {base}/api/v1/docs/\n"
            f"try:   curl -H 'Authorization: Token {key}' "
            f"'{base}/api/v1/finra/venue-share?tier=OTC&week_ending=2025-11-14'"
        )

    def _demo_token(self) -> str:
        """A fresh key each run (keys are stored hashed, so an earlier one cannot be shown);
        the previous run's demo token is rotated, so one demo token works at a time."""
        user = get_user_model().objects.get(username=DEMO_USERNAME)
        current = ApiToken.objects.filter(
            user=user, name=DEMO_TOKEN_NAME, revoked_at__isnull=True
        ).first()
        if current is not None:
            return api_token_rotate(token=current, actor=Actor.cli())[1]
        return api_token_create(user=user, name=DEMO_TOKEN_NAME, actor=Actor.cli())[1]

    def _demo_user(self) -> None:
        user, created = get_user_model().objects.get_or_create(
            username=DEMO_USERNAME, defaults={"is_staff": True, "is_superuser": True}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        self.stdout.write(f"demo administrator: {DEMO_USERNAME} / {DEMO_PASSWORD}")

    def _start_cluster(self) -> subprocess.Popen:
        self.stdout.write("starting a django-q2 cluster (manage.py qcluster)...")
        return subprocess.Popen(
            [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "qcluster"],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def _stop_cluster(self, cluster: subprocess.Popen) -> None:
        if cluster.poll() is None:
            # The cluster's main process stops its workers in order; signalling the whole
            # process group at once makes that shutdown hang.
            cluster.send_signal(signal.SIGTERM)
        try:
            cluster.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(cluster.pid, signal.SIGKILL)
            cluster.wait()
        self.stdout.write("cluster stopped")

    def _watch(self, expected: set[tuple[str, str]], *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        items = WorkItem.objects.filter(domain=DOMAIN)
        while True:
            states = Counter(items.values_list("state", flat=True))
            reached = {
                (canonical_json(key), stage)
                for key, stage in ManifestEntry.objects.filter(domain=DOMAIN).values_list(
                    "partition_key", "stage"
                )
            }
            by_stage = Counter(stage for _, stage in expected & reached)
            progress = "  ".join(f"{s}:{by_stage[s]}" for s in Stage.values)
            queue = "  ".join(f"{state}={n}" for state, n in sorted(states.items()))
            self.stdout.write(f"[stages reached] {progress}   [items] {queue}")
            failed = items.filter(state=WorkState.FAILED)
            if failed.exists():
                for item in failed:
                    self.stderr.write(f"FAILED {item}: {item.last_error}")
                raise CommandError(f"{failed.count()} FINRA work item(s) FAILED")
            active = sum(n for state, n in states.items() if state in ACTIVE_STATES)
            if expected <= reached and not active:
                return
            if time.monotonic() >= deadline:
                missing = sorted(expected - reached)[:5]
                raise CommandError(
                    f"timed out after {timeout:g}s; still missing e.g. {missing} "
                    "(is the qcluster running?)"
                )
            time.sleep(2)
