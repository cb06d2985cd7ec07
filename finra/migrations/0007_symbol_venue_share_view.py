"""The symbol venue shares become a view over the normalized rows (``finra.views_sql``).

A venue's share of a symbol's volume is its normalized row's volume over the symbol's total:
the table repeated every normalized row of every capture with one more column. The view
computes the same rows for every normalized capture whose VENUE_SHARE capture is complete, so
the shares of captures computed before this migration are still there, unchanged.

Reversing stores the view's rows in a table again (on PostgreSQL partitioned by capture, as
migrations 0005 and 0006 left it).
"""

from django.db import migrations

from finra.partitions import literal, partition_name
from finra.views_sql import SYMBOL_VENUE_SHARE, create_views, drop_views

# The dataset tables and the stage of their captures when migration 0002 created the views
# (the symbol venue shares were a table until 0007). A literal copy: migrations are history.
TABLES_0002: dict[str, str] = {
    "finra_otc_transparency_raw": "RAW",
    "finra_otc_transparency_rejects": "RAW",
    "finra_otc_transparency_normalized": "NORMALIZED",
    "finra_otc_transparency_venue_volume": "VENUE_VOLUME",
    "finra_otc_transparency_venue_share": "VENUE_SHARE",
    "finra_otc_transparency_symbol_venue_share": "VENUE_SHARE",
    "finra_otc_transparency_symbol_hhi": "HHI",
    "finra_otc_transparency_tier_hhi": "HHI",
    "finra_otc_transparency_tier_split": "TIER_SPLIT",
}

# The dataset tables and the stage of their captures once 0007 made the symbol venue shares a
# view. A literal copy: migrations are history.
TABLES_0007: dict[str, str] = {
    "finra_otc_transparency_raw": "RAW",
    "finra_otc_transparency_rejects": "RAW",
    "finra_otc_transparency_normalized": "NORMALIZED",
    "finra_otc_transparency_venue_volume": "VENUE_VOLUME",
    "finra_otc_transparency_venue_share": "VENUE_SHARE",
    "finra_otc_transparency_symbol_hhi": "HHI",
    "finra_otc_transparency_tier_hhi": "HHI",
    "finra_otc_transparency_tier_split": "TIER_SPLIT",
}

RESTORE = "finra_tmp_svs_restore"
COLUMNS = [
    "capture_id",
    "captured_at",
    "week_ending",
    "tier",
    "symbol",
    "venue_key",
    "share_quantity",
    "share",
]


def to_view(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for statement in drop_views(TABLES_0002):
            cursor.execute(statement)
        cursor.execute(f"DROP TABLE {SYMBOL_VENUE_SHARE}")  # on PostgreSQL, with its partitions
        for statement in create_views(TABLES_0007, symbol_venue_share=True):
            cursor.execute(statement)


def to_table(apps, schema_editor):
    connection = schema_editor.connection
    columns = ", ".join(COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE {RESTORE} AS SELECT {columns} FROM {SYMBOL_VENUE_SHARE}"
        )
        for statement in drop_views(TABLES_0007, symbol_venue_share=True):
            cursor.execute(statement)
        if connection.vendor == "postgresql":
            model = apps.get_model("finra", "SymbolVenueShareRow")
            fields = {f.column: f for f in model._meta.concrete_fields}
            definition = ", ".join(
                ["id bigint"] + [f"{c} {fields[c].db_type(connection)} NOT NULL" for c in COLUMNS]
            )
            cursor.execute(
                f"CREATE TABLE {SYMBOL_VENUE_SHARE} ({definition}) PARTITION BY LIST (capture_id)"
            )
            cursor.execute(f"CREATE INDEX finra_otc_svs_sym ON {SYMBOL_VENUE_SHARE} (symbol)")
            cursor.execute(f"SELECT DISTINCT capture_id FROM {RESTORE}")
            for (capture_id,) in cursor.fetchall():
                cursor.execute(
                    f"CREATE TABLE {partition_name(SYMBOL_VENUE_SHARE, capture_id)}"
                    f" PARTITION OF {SYMBOL_VENUE_SHARE} FOR VALUES IN ({literal(capture_id)})"
                )
        else:
            schema_editor.create_model(apps.get_model("finra", "SymbolVenueShareRow"))
        cursor.execute(
            f"INSERT INTO {SYMBOL_VENUE_SHARE} ({columns}) SELECT {columns} FROM {RESTORE}"
        )
        cursor.execute(f"DROP TABLE {RESTORE}")
        for statement in create_views(TABLES_0002):
            cursor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("finra", "0006_no_row_ids")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(
                    model_name="symbolvenuesharerow", name="finra_otc_svs_capture"
                ),
                migrations.RemoveIndex(model_name="symbolvenuesharerow", name="finra_otc_svs_sym"),
                migrations.AlterModelOptions(
                    name="symbolvenuesharerow", options={"managed": False}
                ),
            ],
            database_operations=[migrations.RunPython(to_view, to_table)],
        )
    ]
