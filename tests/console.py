"""Shared set-up for the admin console tests: one staff user per role, and a busy queue."""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module
from types import SimpleNamespace

from django.apps import apps
from django.contrib.auth.models import Group, User
from django.db import connection
from django.utils import timezone

from tests.factories import claim_one, enqueue
from workqueue.models import Execution, ExecutionOutcome, WorkerHeartbeat, WorkItem
from workqueue.runner import drain
from workqueue.states import WorkState

ROLES = ("data_ops", "auditors", "viewers")
PASSWORD = "console-pw"


#: the data migrations that make the roles, in order, with the function each runs
ROLE_MIGRATIONS = [
    ("workqueue.migrations.0004_roles", "create_roles"),
    ("workqueue.migrations.0006_roles_admin_pages", "grant"),
    ("finra.migrations.0003_data_api_roles", "grant"),
    ("workqueue.migrations.0008_console_roles", "grant"),
    ("finra.migrations.0011_scheduler_runs_role", "grant"),
]


def ensure_roles() -> None:
    """The role groups as the migrations make them.

    A transactional test (live server, browser) starts after another one may have emptied the
    tables, groups included; this puts the roles back by running the same migration code.
    """
    if Group.objects.filter(name__in=ROLES).count() == len(ROLES):
        return
    editor = SimpleNamespace(connection=connection)
    for module, function in ROLE_MIGRATIONS:
        getattr(import_module(module), function)(apps, editor)


def role_user(role: str) -> User:
    """A staff user in ``role`` (a group name), or a superuser for "superuser"."""
    ensure_roles()
    if role == "superuser":
        return User.objects.create_superuser(role, password=PASSWORD)
    user = User.objects.create_user(f"{role}-user", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


def failed_items(count: int, prefix: str = "f") -> list[WorkItem]:
    """``count`` FAILED items (attempts used up), each with one failed execution."""
    items = [enqueue(week=f"{prefix}{n}", max_attempts=1) for n in range(count)]
    drain(time_budget=10)
    for item in items:
        item.refresh_from_db()
        assert item.state == WorkState.FAILED
    return items


def busy_queue(size: int) -> dict[str, int]:
    """A queue with items in several states, executions and worker heartbeats.

    Returns how many items it left in each state it made.
    """
    failed_items(size, prefix="fail-")
    for n in range(size):
        enqueue(pipeline="produce_first", week=f"done-{n}")
    drain(time_budget=10)
    for n in range(size):
        enqueue(pipeline="produce_first", week=f"wait-{n}")
    enqueue(pipeline="produce_first", week="run")
    claim_one()
    now = timezone.now()
    for n in range(size):
        WorkerHeartbeat.objects.create(worker=f"host-{n}:1", seen_at=now - timedelta(seconds=n))
    Execution.objects.filter(outcome=ExecutionOutcome.SUCCESS).update(duration_seconds=2.5)
    return {"FAILED": size, "COMPLETE": size, "PENDING": size, "RUNNING": 1}


# --- FINRA history for the grid, the lookback panel and the week pages --------------------------


def finra_history(
    weeks: list, *, tiers: tuple[str, ...] | None = None, captured_at=None
) -> dict[tuple[str, str, str], WorkItem]:
    """Every stage of every week and tier complete: a work item, a manifest row and a capture
    each. Returns the items by (week ISO date, tier or ALL, stage)."""
    from finra.models import ALL_TIERS, DOMAIN, Capture
    from finra.stages import STAGES, PartitionShape
    from finra.tiers import TIERS
    from workqueue.models import ManifestEntry

    tiers = tiers or TIERS
    captured_at = captured_at or timezone.now()
    items, entries, captures, names = [], [], [], []
    for week in weeks:
        for spec in STAGES:
            for tier in tiers if spec.partition is PartitionShape.TIER else (ALL_TIERS,):
                key = {"week_ending": week.isoformat()}
                if tier != ALL_TIERS:
                    key["tier"] = tier
                capture_id = f"finra.otc_transparency:{tier}:{week.isoformat()}:20260105"
                items.append(
                    WorkItem(
                        domain=DOMAIN,
                        pipeline=spec.pipeline,
                        partition_key=key,
                        state=WorkState.COMPLETE,
                        completed_at=captured_at,
                    )
                )
                entries.append(
                    ManifestEntry(
                        domain=DOMAIN,
                        partition_key=key,
                        stage=spec.stage,
                        stage_rank=spec.rank,
                        row_count=10,
                        capture_id=capture_id,
                    )
                )
                captures.append(
                    Capture(
                        capture_id=capture_id,
                        stage=spec.stage,
                        week_ending=week,
                        tier=tier,
                        captured_at=captured_at,
                        computed_at=captured_at,
                        row_count=10,
                    )
                )
                names.append((week.isoformat(), tier, spec.stage))
    made = WorkItem.objects.bulk_create(items)
    ManifestEntry.objects.bulk_create(entries)
    Capture.objects.bulk_create(captures)
    return dict(zip(names, made, strict=True))


#: The week page's fixture: venue volumes and per-symbol HHIs of one week and tier.
WEEK_VENUES = [("V1", "Venue One", 600), ("V2", "Venue Two", 300), ("V3", "Venue Three", 100)]
WEEK_SYMBOL_HHI = [("AAA", 1.0), ("BBB", 0.55), ("CCC", 0.52), ("DDD", 0.05)]


def finra_week_data(week, tier: str, *, captured_at=None, suffix: str = "20260105") -> str:
    """Dataset rows of one week and tier (venue shares, symbol and tier HHI, normalized rows,
    a tier split) under complete captures; returns the capture id."""
    import pandas as pd
    from django.db import transaction

    from finra import storage
    from finra.models import (
        ALL_TIERS,
        Capture,
        NormalizedRow,
        SymbolHHIRow,
        TierHHIRow,
        TierSplitRow,
        VenueShareRow,
    )

    captured_at = captured_at or timezone.now()
    capture_id = f"finra.otc_transparency:{tier}:{week.isoformat()}:{suffix}"
    split_id = f"finra.otc_transparency:{ALL_TIERS}:{week.isoformat()}:{suffix}"
    constants = {"captured_at": captured_at, "week_ending": week, "tier": tier}
    total = sum(v for _, _, v in WEEK_VENUES)
    frames = {
        VenueShareRow: pd.DataFrame(
            [
                {
                    "venue_key": key,
                    "venue_name": name,
                    "mpid": key,
                    "share_quantity": volume,
                    "share": volume / total,
                    "rank": rank,
                }
                for rank, (key, name, volume) in enumerate(WEEK_VENUES, start=1)
            ]
        ),
        SymbolHHIRow: pd.DataFrame(
            [
                {"symbol": s, "hhi": hhi, "venue_count": 2, "total_volume": 100 + n}
                for n, (s, hhi) in enumerate(WEEK_SYMBOL_HHI)
            ]
        ),
        TierHHIRow: pd.DataFrame([{"hhi": 0.46, "venue_count": 3, "total_volume": total}]),
        NormalizedRow: pd.DataFrame(
            [
                {
                    "symbol": "AAA",
                    "issue_name": "AAA Inc",
                    "venue_key": key,
                    "mpid": key,
                    "venue_name": name,
                    "share_quantity": volume,
                    "trade_count": 10,
                }
                for key, name, volume in WEEK_VENUES
            ]
        ),
    }
    with transaction.atomic():
        for model, frame in frames.items():
            storage.replace_capture_rows(
                model, capture_id=capture_id, constants=constants, frame=frame
            )
        storage.replace_capture_rows(
            TierSplitRow,
            capture_id=split_id,
            constants={"captured_at": captured_at, "week_ending": week},
            frame=pd.DataFrame(
                [
                    {
                        "symbol": "AAA",
                        "nms_tier_1_volume": 700,
                        "nms_tier_2_volume": 200,
                        "otc_volume": 100,
                        "total_volume": 1000,
                        "nms_tier_1_share": 0.7,
                        "nms_tier_2_share": 0.2,
                        "otc_share": 0.1,
                        "nms_tier_1_capture_id": capture_id,
                        "nms_tier_2_capture_id": capture_id,
                        "otc_capture_id": capture_id,
                    }
                ]
            ),
        )
        for stage, cid, capture_tier in (
            ("RAW", capture_id, tier),
            ("NORMALIZED", capture_id, tier),
            ("VENUE_SHARE", capture_id, tier),
            ("HHI", capture_id, tier),
            ("TIER_SPLIT", split_id, ALL_TIERS),
        ):
            Capture.objects.update_or_create(
                capture_id=cid,
                stage=stage,
                defaults={
                    "week_ending": week,
                    "tier": capture_tier,
                    "captured_at": captured_at,
                    "computed_at": captured_at,
                    "row_count": 3,
                    "reject_count": 1 if stage == "RAW" else 0,
                    "source_sha256": f"{suffix}" * 4 if stage == "RAW" else "",
                },
            )
    return capture_id
