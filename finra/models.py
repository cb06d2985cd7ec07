"""FINRA OTC Transparency tables: the capture register and one table per dataset.

Table and column names are part of the contract (ops staff query them by name), so every model
fixes its ``db_table``. Every dataset row carries the ``capture_id`` and ``captured_at`` of the
capture it belongs to, plus its business key (``week_ending``, ``tier``). Captures are never
overwritten by a later day's run: history accumulates, and the ``<table>_latest`` views created
by the migrations keep only the newest capture per business key (see ``finra.views_sql``).

Derived stages (normalized rows and every calc) are keyed by the *ingest* capture they were
computed from: the normalized rows of capture ``...:OTC:2025-12-12:20260105`` carry that id and
its ``captured_at``, whenever normalization ran. The tier split reads three tiers, so it gets
its own capture id (tier ``ALL``) and records which normalized capture of each tier it used.
"""

from __future__ import annotations

from datetime import date, datetime

from django.db import models
from django.db.models import Case, Exists, F, OuterRef, Q, Value, When
from django.db.models.functions import Cast

DOMAIN = "finra.otc_transparency"
ALL_TIERS = "ALL"  # the tier of tier-split captures, which span the three tiers


class Stage(models.TextChoices):
    RAW = "RAW"
    NORMALIZED = "NORMALIZED"
    VENUE_VOLUME = "VENUE_VOLUME"
    VENUE_SHARE = "VENUE_SHARE"
    HHI = "HHI"
    TIER_SPLIT = "TIER_SPLIT"


STAGES: tuple[str, ...] = tuple(Stage.values)


class CaptureStatus(models.TextChoices):
    COMPLETE = "complete"
    # An ingest that found content identical to the latest capture: recorded, nothing written.
    SKIPPED = "skipped"


class CaptureQuerySet(models.QuerySet["Capture"]):
    def complete(self) -> CaptureQuerySet:
        return self.filter(status=CaptureStatus.COMPLETE)

    def for_partition(self, *, stage: str, week_ending: object, tier: str) -> CaptureQuerySet:
        """Captures of one stage, week and tier, newest first."""
        return self.filter(stage=stage, week_ending=week_ending, tier=tier).order_by(
            "-captured_at", "-capture_id"
        )

    def latest_complete(self, *, as_of: datetime | None = None) -> CaptureQuerySet:
        """Per (stage, week_ending, tier), the capture a "latest" read uses.

        The complete capture with the newest ``captured_at`` (ties, which need two runs in the
        same microsecond, go to the larger ``capture_id``); with ``as_of``, among the captures
        taken at or before it. The ``_latest`` SQL views (``finra.views_sql``) apply the same
        rule, and a test holds them to it. Filter by stage, week or tier before or after:
        both give the same rows. A NOT EXISTS over the small captures table, so the datasets
        are then read by capture id however much history accumulates.
        """
        candidates = self.complete()
        if as_of is not None:
            candidates = candidates.filter(captured_at__lte=as_of)
        newer = candidates.filter(
            stage=OuterRef("stage"), week_ending=OuterRef("week_ending"), tier=OuterRef("tier")
        ).filter(
            Q(captured_at__gt=OuterRef("captured_at"))
            | Q(captured_at=OuterRef("captured_at"), capture_id__gt=OuterRef("capture_id"))
        )
        return candidates.filter(~Exists(newer))

    def latest_for(
        self, *, stage: str, week_ending: date, tier: str, as_of: datetime | None = None
    ) -> Capture | None:
        """The ``latest_complete`` capture of one stage, week and tier, or None."""
        return (
            self.filter(stage=stage, week_ending=week_ending, tier=tier)
            .latest_complete(as_of=as_of)
            .first()
        )


class Capture(models.Model):
    """One capture of one stage: which source content, when, how many rows, by which run.

    ``captured_at`` is when the ingest capture was taken; derived stages repeat their ingest
    capture's value so that "newest" means the same thing in every dataset. ``computed_at`` is
    when this stage's rows were written.
    """

    capture_id = models.CharField(max_length=96)
    stage = models.CharField(max_length=16, choices=Stage.choices)
    week_ending = models.DateField()
    tier = models.CharField(max_length=16)
    status = models.CharField(
        max_length=16, choices=CaptureStatus.choices, default=CaptureStatus.COMPLETE
    )
    source_origin = models.TextField(blank=True, default="")
    source_sha256 = models.CharField(max_length=64, blank=True, default="")
    source_last_update_date = models.DateField(null=True, blank=True)
    captured_at = models.DateTimeField()
    computed_at = models.DateTimeField()
    row_count = models.BigIntegerField(default=0)
    reject_count = models.BigIntegerField(default=0)
    execution_id = models.BigIntegerField(null=True, blank=True)
    #: Captures this one was computed from, e.g. {"NORMALIZED": {"OTC": "finra...:20260105"}}.
    upstream = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)

    objects = CaptureQuerySet.as_manager()

    class Meta:
        db_table = "finra_otc_transparency_captures"
        constraints = [
            models.UniqueConstraint(
                fields=["capture_id", "stage"], name="finra_otc_captures_unique_stage"
            )
        ]
        indexes = [
            models.Index(
                fields=["stage", "week_ending", "tier", "captured_at"],
                name="finra_otc_captures_partition",
            )
        ]

    def __str__(self) -> str:
        return f"{self.capture_id} {self.stage} ({self.status})"


class DatasetRow(models.Model):
    capture_id = models.CharField(max_length=96)
    captured_at = models.DateTimeField()
    week_ending = models.DateField()

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self._meta.db_table} {self.capture_id} #{self.pk}"


class TierDatasetRow(DatasetRow):
    tier = models.CharField(max_length=16)

    class Meta:
        abstract = True


def _capture_index(table: str) -> models.Index:
    # SQLite: replacing a capture deletes by capture_id and the _latest views select by it.
    # PostgreSQL does not create it: each capture is a partition of its own (finra.partitions).
    return models.Index(fields=["capture_id"], name=f"{table}_capture")


class SymbolIndex(models.Index):
    """An index for "one symbol across weeks" reads (equality lookups of a symbol).

    On PostgreSQL the dataset tables are partitioned per capture (migration
    ``0005_capture_partitions``): the index there is a partitioned btree, built on each capture's
    rows after they are loaded (``finra.storage.capture_target``), never maintained row by
    row. Captures are loaded in file order, which FINRA sorts by symbol, so the build is a
    pass over presorted keys. (Migration 0003 created hash indexes on the old tables, when the
    index was maintained during the load; 0005 replaces them.)
    """


def _symbol_index(table: str) -> models.Index:
    return SymbolIndex(fields=["symbol"], name=f"{table}_sym")


class RawRow(TierDatasetRow):
    """The file's valid rows as parsed, verbatim text, with their physical line number."""

    line_number = models.BigIntegerField()
    tier_description = models.TextField()
    symbol = models.TextField()
    issue_name = models.TextField()
    participant_name = models.TextField()
    mpid = models.TextField()
    share_quantity = models.BigIntegerField()
    trade_count = models.BigIntegerField()
    last_update_date = models.DateField()

    class Meta:
        db_table = "finra_otc_transparency_raw"
        indexes = [_capture_index("finra_otc_raw")]


class RejectRow(TierDatasetRow):
    """A data line of the file left out of the capture, and why."""

    line_number = models.BigIntegerField()
    reason = models.TextField()
    raw_line = models.TextField()

    class Meta:
        db_table = "finra_otc_transparency_rejects"
        indexes = [_capture_index("finra_otc_rejects")]


class NormalizedRow(TierDatasetRow):
    """One row per (symbol, venue) of a tier's week: what every calc reads."""

    symbol = models.TextField()
    issue_name = models.TextField()
    venue_key = models.TextField()
    mpid = models.TextField()
    venue_name = models.TextField()
    share_quantity = models.BigIntegerField()
    trade_count = models.BigIntegerField()
    # Computed by the database so loads send two numbers instead of three (0 for no trades).
    avg_trade_size = models.GeneratedField(
        expression=Case(
            When(trade_count=0, then=Value(0.0)),
            default=Cast(F("share_quantity"), models.FloatField())
            / Cast(F("trade_count"), models.FloatField()),
        ),
        output_field=models.FloatField(),
        db_persist=True,
    )

    class Meta:
        db_table = "finra_otc_transparency_normalized"
        indexes = [_capture_index("finra_otc_normalized"), _symbol_index("finra_otc_normalized")]


class VenueVolumeRow(TierDatasetRow):
    venue_key = models.TextField()
    venue_name = models.TextField()
    mpid = models.TextField()
    share_quantity = models.BigIntegerField()
    trade_count = models.BigIntegerField()
    symbol_count = models.BigIntegerField()

    class Meta:
        db_table = "finra_otc_transparency_venue_volume"
        indexes = [_capture_index("finra_otc_venue_volume")]


class VenueShareRow(TierDatasetRow):
    """A venue's share (0-1) of its tier's weekly share volume; rank 1 is the largest."""

    venue_key = models.TextField()
    venue_name = models.TextField()
    mpid = models.TextField()
    share_quantity = models.BigIntegerField()
    share = models.FloatField()
    rank = models.IntegerField()

    class Meta:
        db_table = "finra_otc_transparency_venue_share"
        indexes = [_capture_index("finra_otc_venue_share")]


class SymbolVenueShareRow(TierDatasetRow):
    """A venue's share (0-1) of one symbol's weekly volume within the tier.

    A view over the normalized rows (``finra.views_sql``), not a table: the share is the row's
    volume over its symbol's total, for every normalized capture with a complete VENUE_SHARE
    capture. Its rows carry the normalized capture's id, like the stored calcs.
    """

    symbol = models.TextField()
    venue_key = models.TextField()
    share_quantity = models.BigIntegerField()
    share = models.FloatField()

    class Meta:
        managed = False
        db_table = "finra_otc_transparency_symbol_venue_share"


class SymbolHHIRow(TierDatasetRow):
    """Venue concentration of one symbol (HHI on the 0-1 scale)."""

    symbol = models.TextField()
    hhi = models.FloatField()
    venue_count = models.IntegerField()
    total_volume = models.BigIntegerField()

    class Meta:
        db_table = "finra_otc_transparency_symbol_hhi"
        indexes = [_capture_index("finra_otc_symbol_hhi"), _symbol_index("finra_otc_symbol_hhi")]


class TierHHIRow(TierDatasetRow):
    """Venue concentration of the whole tier (HHI on the 0-1 scale)."""

    hhi = models.FloatField()
    venue_count = models.IntegerField()
    total_volume = models.BigIntegerField()

    class Meta:
        db_table = "finra_otc_transparency_tier_hhi"
        indexes = [_capture_index("finra_otc_tier_hhi")]


class TierSplitRow(DatasetRow):
    """One symbol's weekly volume per tier and each tier's share of it.

    The ``*_capture_id`` columns name the normalized capture of each tier the row was computed
    from (the latest of each tier when the split ran).
    """

    symbol = models.TextField()
    nms_tier_1_volume = models.BigIntegerField()
    nms_tier_2_volume = models.BigIntegerField()
    otc_volume = models.BigIntegerField()
    total_volume = models.BigIntegerField()
    nms_tier_1_share = models.FloatField()
    nms_tier_2_share = models.FloatField()
    otc_share = models.FloatField()
    nms_tier_1_capture_id = models.CharField(max_length=96)
    nms_tier_2_capture_id = models.CharField(max_length=96)
    otc_capture_id = models.CharField(max_length=96)

    class Meta:
        db_table = "finra_otc_transparency_tier_split"
        indexes = [
            _capture_index("finra_otc_tier_split"),
            _symbol_index("finra_otc_tier_split"),
        ]


# --- the weekly scheduler's record ---------------------------------------------------------------


class SchedulerRunStatus(models.TextChoices):
    RUNNING = "running"
    SUCCESS = "success"  # everything due succeeded or was unchanged (exit 0)
    PARTIAL = "partial"  # some partitions failed, the others were processed (exit 1)
    CRITICAL = "critical"  # the run could not do its job: database, flags, no worker (exit 2)


class SchedulerAction(models.TextChoices):
    """What a run did for one (week, tier)."""

    INGESTED = "ingested"  # a first capture of the week
    REVISED = "revised"  # a new capture whose content differs from the previous one
    UNCHANGED = "unchanged"  # the source is identical to the latest capture: skipped
    NOT_DUE = "not_due"  # not yet published (calendar): skipped, never an error
    PROCESSED = "processed"  # --only-stage normalize/calcs re-ran on the existing capture
    FAILED = "failed"


class SchedulerRun(models.Model):
    """One run of the multi-week FINRA scheduler: its flags, outcome and what it did per week.

    Kept so that the metrics (runs by status, weeks by action, last run) survive the process
    that ran it, and so staff can see in the admin what each Monday's run did.
    """

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=SchedulerRunStatus.choices, default=SchedulerRunStatus.RUNNING
    )
    exit_code = models.PositiveSmallIntegerField(null=True, blank=True)
    #: The flags as given, e.g. {"lookback_weeks": 6, "mode": "run", "force": false, ...}.
    arguments = models.JSONField(default=dict, blank=True)
    #: Per action (SchedulerAction values): how many (week, tier) partitions got it.
    counts = models.JSONField(default=dict, blank=True)
    #: One row per (week, tier): {"week_ending", "tier", "action", "error", "capture_id"}.
    results = models.JSONField(default=list, blank=True)
    #: Ids of the work items this run enqueued or re-armed.
    work_item_ids = models.JSONField(default=list, blank=True)
    message = models.TextField(blank=True, default="")
    host = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        db_table = "finra_scheduler_runs"
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["status", "started_at"], name="finra_sched_runs_status")]

    def __str__(self) -> str:
        return f"scheduler run {self.pk} at {self.started_at:%Y-%m-%d %H:%M} ({self.status})"

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
