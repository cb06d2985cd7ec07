"""The RAW stage: parse a week's content and store it as a capture of (week_ending, tier).

The rows, the rejects, the capture row and the manifest row are written in ONE transaction: a
failure anywhere leaves the database as it was. Capture semantics are described in
``finra.models``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pandas as pd
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from finra import storage
from finra.models import Capture, CaptureStatus, RawRow, RejectRow, Stage
from finra.normalize import normalize_hints
from finra.parsing import (
    FRAME_COLUMNS,
    HEADER_COLUMNS,
    FinraFileError,
    ParsedFile,
    parse_weekly_file,
)
from finra.selectors import capture_latest
from finra.services.captures import (
    StageOutcome,
    capture_id_for,
    capture_save,
    tier_partition_key,
)
from finra.sources import SourceContent
from finra.tiers import canonical_tier
from workqueue.pipelines import NonRetryableError, PipelineContext


def week_ingest(
    *,
    week_ending: date,
    tier: str,
    content: SourceContent,
    run: PipelineContext,
    force: bool = False,
    now: datetime | None = None,
) -> StageOutcome:
    """Parse the content and store it as the RAW capture of (week_ending, tier).

    A structural error changes nothing and raises NonRetryableError with the parser's message.
    Content identical (sha256) to the latest complete capture is not stored again unless
    ``force``: the run is recorded as a skipped capture. The same capture_id again (a re-run the
    same day) replaces that capture's rows. The manifest row is recorded through
    ``run.record_stage`` in the same transaction as the capture row.
    """
    execution_id = run.execution_id
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
                    run=run,
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
            run=run,
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
    run: PipelineContext,
) -> StageOutcome:
    """Write the rejects, the capture row and the manifest row of a RAW capture whose rows
    were just written, in the caller's transaction."""
    execution_id = run.execution_id
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
    capture_save(
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
    run.record_stage(
        partition_key=tier_partition_key(week_ending, tier),
        stage=Stage.RAW,
        row_count=rows,
        capture_id=capture_id,
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


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None
