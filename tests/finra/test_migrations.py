"""Migrations that move stored data keep it: forwards, and backwards to the previous schema."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.finra.conftest import enqueue, run_queue

SVS = "finra_otc_transparency_symbol_venue_share"
WEEK = "2025-11-28"


def migrate(app: str, target: str | None) -> None:
    """Migrate ``app`` to ``target`` (None: its latest migration)."""
    executor = MigrationExecutor(connection)
    if target is None:
        (leaf,) = executor.loader.graph.leaf_nodes(app)
        target = leaf[1]
    executor.migrate([(app, target)])


def relation_kind(name: str) -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT CASE relkind WHEN 'v' THEN 'view' WHEN 'p' THEN 'partitioned table'"
                " ELSE 'table' END FROM pg_class WHERE relname = %s",
                [name],
            )
        else:
            cursor.execute("SELECT type FROM sqlite_master WHERE name = %s", [name])
        return cursor.fetchone()[0]


def shares(relation: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT capture_id, week_ending, tier, symbol, venue_key, share_quantity, share"
            f" FROM {relation} ORDER BY capture_id, symbol, venue_key"
        )
        return [(*row[:-1], round(row[-1], 12)) for row in cursor.fetchall()]


@pytest.mark.django_db(transaction=True)
def test_symbol_venue_shares_keep_their_rows_as_a_view_and_back_as_a_table(place_generated):
    place_generated(WEEK, "NMS_TIER_1", rows=300)
    enqueue("ingest_week", {"week_ending": WEEK, "tier": "NMS_TIER_1"})
    run_queue()
    computed = shares(SVS)
    assert len(computed) == 300  # one per normalized row: the generated week has no repeats
    assert relation_kind(SVS) == "view"
    latest = shares(f"{SVS}_latest")
    assert latest == computed

    try:
        migrate("finra", "0006_no_row_ids")
        assert relation_kind(SVS) == (
            "partitioned table" if connection.vendor == "postgresql" else "table"
        )
        assert shares(SVS) == computed
        assert shares(f"{SVS}_latest") == latest
    finally:
        migrate("finra", None)
    assert relation_kind(SVS) == "view"
    assert shares(SVS) == computed
