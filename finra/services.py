"""FINRA operations: fetch a week's content, and turn captures into the next stage.

One function per stage, keyword-only, called by the pipelines in ``finra.pipelines`` (and usable
from a shell or a command). Each one writes its dataset rows, its capture row and its manifest
row in ONE transaction: a failure anywhere leaves the database exactly as it was, and readers
never see a capture half-written. Capture semantics are described in ``finra.models``.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from finra import sql_stages, storage
from finra.models import (
    ALL_TIERS,
    DOMAIN,
    Capture,
    CaptureStatus,
    NormalizedRow,
    RawRow,
    RejectRow,
    Stage,
    SymbolHHIRow,
    SymbolVenueShareRow,
    TierHHIRow,
    TierSplitRow,
    VenueShareRow,
    VenueVolumeRow,
)
from finra.normalize import normalize_hints
from finra.parsing import (
    FRAME_COLUMNS,
    HEADER_COLUMNS,
    FinraFileError,
    ParsedFile,
    parse_weekly_file,
)
from finra.selectors import capture_latest
from finra.sources import NotPublishedYet, SourceContent, SourceRefused
from finra.tiers import TIERS, UnknownTierError, canonical_tier
from workqueue.manifest import manifest_record
from workqueue.pipelines import DependencyNotReady, NonRetryableError

SOURCES = ("file", "api")


@dataclass
class StageOutcome:
    """What one stage run did, in the shape a PipelineResult needs."""

    stage: str
    capture_id: str | None
    rows_written: int = 0
    skipped: bool = False
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)


def capture_id_for(*, tier: str, week_ending: date, run_at: datetime) -> str:
    """``finra.otc_transparency:{tier}:{week_ending}:{YYYYMMDD}``, the date the run's (UTC)."""
    run_day = run_at.astimezone(UTC).strftime("%Y%m%d")
    return f"{DOMAIN}:{tier}:{week_ending.isoformat()}:{run_day}"


def tier_partition_key(week_ending: date, tier: str) -> dict[str, str]:
    return {"tier": tier, "week_ending": week_ending.isoformat()}


def week_partition_key(week_ending: date) -> dict[str, str]:
    return {"week_ending": week_ending.isoformat()}


# --- sources ----------------------------------------------------------------------------------


def source_fetch(*, week_ending: date, tier: str, params: dict[str, Any]) -> SourceContent:
    """Fetch a week's content from the source the params choose.

    ``params.file_url`` selects the URL source; otherwise ``params.source`` is ``file`` (the
    default: ``params.file_path`` or the default layout under FINRA_DATA_DIR) or ``api``.
    Not published yet -> DependencyNotReady (the item waits); a refused request ->
    NonRetryableError; other source errors are retried with backoff.
    """
    source = params.get("source", "file")
    if source not in SOURCES:
        raise NonRetryableError(f"unknown params.source {source!r}; accepted: {', '.join(SOURCES)}")
    try:
        if params.get("file_url"):
            from finra.sources import url

            return url.fetch_url(str(params["file_url"]))
        if source == "api":
            from finra.sources import finra_api

            return finra_api.fetch_weekly_summary(week_ending=week_ending, tier=tier)
        from finra.sources import files

        file_path = params.get("file_path")
        return files.read_week_file(
            week_ending=week_ending, tier=tier, file_path=str(file_path) if file_path else None
        )
    except NotPublishedYet as exc:
        raise DependencyNotReady(str(exc)) from None
    except SourceRefused as exc:
        raise NonRetryableError(str(exc)) from None
    except ImportError as exc:
        raise NonRetryableError(f"source not available in this deployment: {exc}") from None


# --- RAW --------------------------------------------------------------------------------------


def week_ingest(
    *,
    week_ending: date,
    tier: str,
    content: SourceContent,
    force: bool = False,
    execution_id: int | None = None,
    now: datetime | None = None,
) -> StageOutcome:
    """Parse the content and store it as the RAW capture of (week_ending, tier).

    A structural error changes nothing and raises NonRetryableError with the parser's message.
    Content identical (sha256) to the latest complete capture is not stored again unless
    ``force``: the run is recorded as a skipped capture. The same capture_id again (a re-run the
    same day) replaces that capture's rows.
    """
    tier = canonical_tier(tier)
    now = now or timezone.now()
    capture_id = capture_id_for(tier=tier, week_ending=week_ending, run_at=now)
    constants = {"captured_at": now, "week_ending": week_ending, "tier": tier}
    if storage.file_lines_streamable(content.data, HEADER_COLUMNS):
        # PostgreSQL loads the file's lines while Python validates them; the load is kept only
        # if every line became a row and the content is new, else it is rolled back and the
        # parsed rows are written the ordinary way (or the run is skipped).
        parsed = None
        try:
            with transaction.atomic():
                with storage.capture_target(
                    RawRow, capture_id=capture_id, constants=constants
                ) as target:
                    with storage.stream_file_lines(
                        RawRow,
                        target,
                        content.data,
                        columns=list(FRAME_COLUMNS.values()),
                        line_number="line_number",
                    ):
                        parsed = _parse(content, week_ending=week_ending, tier=tier)
                        if not parsed.every_line_kept:
                            raise _NotStreamed
                        # While the server is still loading the lines.
                        hints = normalize_hints(parsed.frame)
                    if _unchanged(parsed, week_ending=week_ending, tier=tier, force=force):
                        raise _NotStreamed
                return _raw_capture_record(
                    content=content,
                    parsed=parsed,
                    hints=hints,
                    capture_id=capture_id,
                    week_ending=week_ending,
                    tier=tier,
                    now=now,
                    rows=parsed.row_count,
                    constants=constants,
                    execution_id=execution_id,
                )
        except _NotStreamed:
            pass
    else:
        parsed = _parse(content, week_ending=week_ending, tier=tier)
    assert parsed is not None

    latest = _unchanged(parsed, week_ending=week_ending, tier=tier, force=force)
    if latest is not None:
        return _record_skip(
            latest=latest,
            capture_id=capture_id,
            content=content,
            parsed=parsed,
            now=now,
            execution_id=execution_id,
        )
    with transaction.atomic():
        rows = storage.replace_capture_rows(
            RawRow, capture_id=capture_id, constants=constants, frame=parsed.frame
        )
        return _raw_capture_record(
            content=content,
            parsed=parsed,
            hints=normalize_hints(parsed.frame),
            capture_id=capture_id,
            week_ending=week_ending,
            tier=tier,
            now=now,
            rows=rows,
            constants=constants,
            execution_id=execution_id,
        )


class _NotStreamed(Exception):
    """The streamed load cannot be kept (rejected lines, or content already captured)."""


def _parse(content: SourceContent, *, week_ending: date, tier: str) -> ParsedFile:
    try:
        return parse_weekly_file(
            content.data,
            week_ending=week_ending,
            tier=tier,
            max_reject_ratio=settings.FINRA_MAX_REJECT_RATIO,
        )
    except FinraFileError as exc:
        raise NonRetryableError(f"{content.origin}: {exc}") from None


def _unchanged(parsed: ParsedFile, *, week_ending: date, tier: str, force: bool) -> Capture | None:
    """The latest RAW capture if it holds the same content and the run is not forced."""
    latest = capture_latest(stage=Stage.RAW, week_ending=week_ending, tier=tier)
    if latest is not None and latest.source_sha256 == parsed.sha256 and not force:
        return latest
    return None


def _raw_capture_record(
    *,
    content: SourceContent,
    parsed: ParsedFile,
    hints: dict[str, Any],
    capture_id: str,
    week_ending: date,
    tier: str,
    now: datetime,
    rows: int,
    constants: dict[str, Any],
    execution_id: int | None,
) -> StageOutcome:
    """Write the rejects, the capture row and the manifest row of a RAW capture whose rows
    were just written, in the caller's transaction."""
    rejects = pd.DataFrame(
        {
            "line_number": [r.line_number for r in parsed.rejects],
            "reason": [r.reason for r in parsed.rejects],
            "raw_line": [r.raw_line for r in parsed.rejects],
        }
    ).astype({"line_number": "int64", "reason": str, "raw_line": str})
    metrics = {
        "reject_count": len(parsed.rejects),
        "total_rows": parsed.total_rows,
        "source_origin": content.origin,
        "source_sha256": parsed.sha256,
        "source_last_update_date": _iso(parsed.source_last_update_date),
    }
    storage.replace_capture_rows(
        RejectRow, capture_id=capture_id, constants=constants, frame=rejects
    )
    _capture_save(
        capture_id=capture_id,
        stage=Stage.RAW,
        week_ending=week_ending,
        tier=tier,
        captured_at=now,
        computed_at=now,
        row_count=rows,
        reject_count=len(parsed.rejects),
        execution_id=execution_id,
        source_origin=content.origin,
        source_sha256=parsed.sha256,
        source_last_update_date=parsed.source_last_update_date,
        metrics={"total_rows": parsed.total_rows, "normalize_hints": hints},
    )
    manifest_record(
        domain=DOMAIN,
        partition_key=tier_partition_key(week_ending, tier),
        stage=Stage.RAW,
        row_count=rows,
        capture_id=capture_id,
        execution_id=execution_id,
        metrics=metrics,
    )
    return StageOutcome(
        stage=Stage.RAW,
        capture_id=capture_id,
        rows_written=rows,
        message=f"{rows:,} rows, {len(parsed.rejects):,} rejected, from {content.origin}",
        details=metrics,
    )


def _record_skip(
    *,
    latest: Capture,
    capture_id: str,
    content: SourceContent,
    parsed: ParsedFile,
    now: datetime,
    execution_id: int | None,
) -> StageOutcome:
    # Keep a trace of every ingest run in the captures table, but never let a skipped run
    # overwrite the complete capture it matched (same day = same capture_id).
    if capture_id != latest.capture_id:
        Capture.objects.update_or_create(
            capture_id=capture_id,
            stage=Stage.RAW,
            defaults={
                "week_ending": latest.week_ending,
                "tier": latest.tier,
                "status": CaptureStatus.SKIPPED,
                "source_origin": content.origin,
                "source_sha256": parsed.sha256,
                "source_last_update_date": parsed.source_last_update_date,
                "captured_at": now,
                "computed_at": now,
                "row_count": 0,
                "reject_count": 0,
                "execution_id": execution_id,
                "upstream": {},
                "metrics": {"same_content_as": latest.capture_id},
            },
        )
    return StageOutcome(
        stage=Stage.RAW,
        capture_id=latest.capture_id,
        rows_written=0,
        skipped=True,
        message=(
            f"content unchanged since capture {latest.capture_id} "
            f"(sha256 {parsed.sha256[:12]}...); pass params.force to ingest it again"
        ),
        details={"same_content_as": latest.capture_id, "source_sha256": parsed.sha256},
    )


# --- NORMALIZED -------------------------------------------------------------------------------


def week_normalize(
    *, week_ending: date, tier: str, execution_id: int | None = None
) -> StageOutcome:
    """Normalize the latest RAW capture of (week_ending, tier) into the NORMALIZED dataset."""
    tier = canonical_tier(tier)
    raw = _require_capture(Stage.RAW, week_ending, tier, hint="run ingest_week first")
    constants = {"captured_at": raw.captured_at, "week_ending": week_ending, "tier": tier}
    now = timezone.now()
    with transaction.atomic():
        sql_stages.prepare_transaction()
        with storage.capture_target(
            NormalizedRow, capture_id=raw.capture_id, constants=constants
        ) as target:
            rows, raw_rows = sql_stages.normalize_capture(
                raw_capture_id=raw.capture_id,
                capture_id=raw.capture_id,
                target=target,
                hints=raw.metrics.get("normalize_hints"),
            )
        metrics = {"merged_duplicates": raw_rows - rows, "raw_rows": raw_rows}
        _capture_save(
            capture_id=raw.capture_id,
            stage=Stage.NORMALIZED,
            week_ending=week_ending,
            tier=tier,
            captured_at=raw.captured_at,
            computed_at=now,
            row_count=rows,
            execution_id=execution_id,
            upstream={Stage.RAW: raw.capture_id},
            metrics=metrics,
            source_from=raw,
        )
        manifest_record(
            domain=DOMAIN,
            partition_key=tier_partition_key(week_ending, tier),
            stage=Stage.NORMALIZED,
            row_count=rows,
            capture_id=raw.capture_id,
            execution_id=execution_id,
            metrics=metrics,
        )
    return StageOutcome(
        stage=Stage.NORMALIZED,
        capture_id=raw.capture_id,
        rows_written=rows,
        message=f"{rows:,} (symbol, venue) rows from {raw_rows:,} raw rows",
        details=metrics,
    )


# --- calcs over one tier ----------------------------------------------------------------------

CALC_STAGES = (Stage.VENUE_VOLUME, Stage.VENUE_SHARE, Stage.HHI)
# The tables each calc stage writes.
CALC_MODELS: dict[str, tuple[type, ...]] = {
    Stage.VENUE_VOLUME: (VenueVolumeRow,),
    Stage.VENUE_SHARE: (VenueShareRow,),
    Stage.HHI: (SymbolHHIRow, TierHHIRow),
}


def tiers_with_stage(*, stage: str, week_ending: date) -> list[str]:
    """The tiers (canonical order) that have a complete capture of ``stage`` for the week."""
    present = set(
        Capture.objects.complete()
        .filter(stage=stage, week_ending=week_ending)
        .values_list("tier", flat=True)
    )
    return [tier for tier in TIERS if tier in present]


def tier_calc_compute(
    *, stage: str, week_ending: date, tier: str, execution_id: int | None = None
) -> StageOutcome:
    """Compute one calc stage (VENUE_VOLUME, VENUE_SHARE or HHI) from the latest NORMALIZED
    capture of (week_ending, tier). The calc rows carry the normalized capture's id."""
    if stage not in CALC_STAGES:
        raise ValueError(f"not a tier calc stage: {stage}")
    tier = canonical_tier(tier)
    normalized = _require_capture(
        Stage.NORMALIZED, week_ending, tier, hint="normalize_week has not run yet"
    )
    constants = {"captured_at": normalized.captured_at, "week_ending": week_ending, "tier": tier}
    capture_id = normalized.capture_id
    metrics: dict[str, Any] = {}
    with transaction.atomic():
        sql_stages.prepare_transaction()
        with ExitStack() as stack:
            targets = {
                model: stack.enter_context(
                    storage.capture_target(model, capture_id=capture_id, constants=constants)
                )
                for model in CALC_MODELS[stage]
            }
            if stage == Stage.VENUE_VOLUME:
                counts = sql_stages.venue_volume(capture_id=capture_id, targets=targets)
            elif stage == Stage.VENUE_SHARE:
                counts = sql_stages.venue_share(capture_id=capture_id, targets=targets)
                # The symbol venue shares (a view) have one row per normalized row.
                counts[SymbolVenueShareRow] = normalized.row_count
            else:
                counts, metrics["tier_hhi"] = sql_stages.hhi(capture_id=capture_id, targets=targets)
        metrics = {"rows": {m._meta.db_table: n for m, n in counts.items()}, **metrics}
        rows = sum(counts.values())
        _capture_save(
            capture_id=capture_id,
            stage=stage,
            week_ending=week_ending,
            tier=tier,
            captured_at=normalized.captured_at,
            computed_at=timezone.now(),
            row_count=rows,
            execution_id=execution_id,
            upstream={Stage.NORMALIZED: capture_id},
            metrics=metrics,
            source_from=normalized,
        )
        manifest_record(
            domain=DOMAIN,
            partition_key=tier_partition_key(week_ending, tier),
            stage=stage,
            row_count=rows,
            capture_id=capture_id,
            execution_id=execution_id,
            metrics=metrics,
        )
    return StageOutcome(
        stage=stage,
        capture_id=capture_id,
        rows_written=rows,
        message=f"{stage} of {tier} {week_ending}: {rows:,} rows",
        details=metrics,
    )


# --- TIER_SPLIT -------------------------------------------------------------------------------


def tier_split_compute(
    *, week_ending: date, execution_id: int | None = None, now: datetime | None = None
) -> StageOutcome:
    """Split each symbol's weekly volume across the three tiers.

    Uses each tier's LATEST normalized capture and groups by week and symbol only, never by
    capture id, so a restated tier replaces its old numbers instead of adding to them. Waits
    (DependencyNotReady) until all three tiers are normalized.
    """
    latest = {
        tier: capture_latest(stage=Stage.NORMALIZED, week_ending=week_ending, tier=tier)
        for tier in TIERS
    }
    missing = [tier for tier, capture in latest.items() if capture is None]
    if missing:
        raise DependencyNotReady(
            f"tier split of week {week_ending.isoformat()} waits for stage NORMALIZED of "
            f"{', '.join(missing)}"
        )
    now = now or timezone.now()
    capture_id = capture_id_for(tier=ALL_TIERS, week_ending=week_ending, run_at=now)
    used = {tier: capture.capture_id for tier, capture in latest.items() if capture is not None}
    constants = {
        "captured_at": now,
        "week_ending": week_ending,
        **{f"{tier.lower()}_capture_id": used[tier] for tier in TIERS},
    }
    with transaction.atomic():
        sql_stages.prepare_transaction()
        with storage.capture_target(
            TierSplitRow, capture_id=capture_id, constants=constants
        ) as target:
            rows = sql_stages.tier_split(
                target=target,
                used=used,
                rows={tier: capture.row_count for tier, capture in latest.items() if capture},
            )
        _capture_save(
            capture_id=capture_id,
            stage=Stage.TIER_SPLIT,
            week_ending=week_ending,
            tier=ALL_TIERS,
            captured_at=now,
            computed_at=now,
            row_count=rows,
            execution_id=execution_id,
            upstream={Stage.NORMALIZED: used},
        )
        manifest_record(
            domain=DOMAIN,
            partition_key=week_partition_key(week_ending),
            stage=Stage.TIER_SPLIT,
            row_count=rows,
            capture_id=capture_id,
            execution_id=execution_id,
            metrics={"normalized_captures": used},
        )
    return StageOutcome(
        stage=Stage.TIER_SPLIT,
        capture_id=capture_id,
        rows_written=rows,
        message=f"tier split of {rows:,} symbols for week {week_ending.isoformat()}",
        details={"normalized_captures": used},
    )


# --- helpers ----------------------------------------------------------------------------------


def _require_capture(stage: str, week_ending: date, tier: str, *, hint: str) -> Capture:
    capture = capture_latest(stage=stage, week_ending=week_ending, tier=tier)
    if capture is None:
        raise DependencyNotReady(
            f"waiting for stage {stage} of {tier} week {week_ending.isoformat()} ({hint})"
        )
    return capture


def _capture_save(
    *,
    capture_id: str,
    stage: str,
    week_ending: date,
    tier: str,
    captured_at: datetime,
    computed_at: datetime,
    row_count: int,
    execution_id: int | None,
    reject_count: int = 0,
    source_origin: str = "",
    source_sha256: str = "",
    source_last_update_date: date | None = None,
    upstream: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    source_from: Capture | None = None,
) -> Capture:
    if source_from is not None:
        # Derived stages repeat their source's provenance so each row of the table stands alone.
        source_origin = source_from.source_origin
        source_sha256 = source_from.source_sha256
        source_last_update_date = source_from.source_last_update_date
    capture, _ = Capture.objects.update_or_create(
        capture_id=capture_id,
        stage=stage,
        defaults={
            "week_ending": week_ending,
            "tier": tier,
            "status": CaptureStatus.COMPLETE,
            "source_origin": source_origin,
            "source_sha256": source_sha256,
            "source_last_update_date": source_last_update_date,
            "captured_at": captured_at,
            "computed_at": computed_at,
            "row_count": row_count,
            "reject_count": reject_count,
            "execution_id": execution_id,
            "upstream": upstream or {},
            "metrics": metrics or {},
        },
    )
    return capture


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def tier_param(value: Any) -> str:
    """Canonical tier from a params.tier value, or NonRetryableError naming what is accepted."""
    try:
        return canonical_tier(str(value))
    except UnknownTierError as exc:
        raise NonRetryableError(f"params.tier: {exc}") from None
