"""PostgreSQL: every FINRA dataset table becomes a parent partitioned by capture_id.

One partition per capture (see ``finra.partitions``): a capture is written into a table of its
own and attached, so a 1M-row capture is loaded into a table without indexes and replacing it
is a DROP of one partition instead of a DELETE of a million rows. Existing rows are moved into
one partition per capture. SQLite keeps its ordinary tables (nothing to do there), and the
Django models do not change: the ORM reads the parent tables as before.

On PostgreSQL the parents carry no primary-key index (a partitioned table's unique indexes must
include the partition key); ``id`` stays, filled from ``<table>_id_seq``. The ``_latest`` views
select ``d.*`` and are re-created around the change.
"""

from django.db import migrations

from finra.partitions import PARTITIONED_TABLES_0005 as PARTITIONED_TABLES
from finra.partitions import literal, partition_name, sequence_name
from finra.views_sql import create_views, drop_views

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


def _loaded_columns(cursor, table: str) -> str:
    cursor.execute(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = %s AND is_generated = 'NEVER'"
        " ORDER BY ordinal_position",
        [table],
    )
    return ", ".join(f'"{name}"' for (name,) in cursor.fetchall())


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for statement in drop_views(TABLES_0002):
            cursor.execute(statement)
        for table, symbol_index in PARTITIONED_TABLES.items():
            old = f"{table}_unpartitioned"
            cursor.execute(f"ALTER TABLE {table} RENAME TO {old}")
            cursor.execute(
                f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING GENERATED)"
                " PARTITION BY LIST (capture_id)"
            )
            columns = _loaded_columns(cursor, old)
            cursor.execute(f"SELECT DISTINCT capture_id FROM {old}")
            for (capture_id,) in cursor.fetchall():
                name = partition_name(table, capture_id)
                cursor.execute(
                    f"CREATE TABLE {name} PARTITION OF {table}"
                    f" FOR VALUES IN ({literal(capture_id)})"
                )
                cursor.execute(
                    f"INSERT INTO {name} ({columns}) SELECT {columns} FROM {old}"
                    " WHERE capture_id = %s",
                    [capture_id],
                )
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {old}")
            start = cursor.fetchone()[0]
            cursor.execute(f"DROP TABLE {old}")  # with its indexes and identity sequence
            sequence = sequence_name(table)
            cursor.execute(
                f"CREATE SEQUENCE {sequence} START {int(start)} CACHE 1000 OWNED BY {table}.id"
            )
            cursor.execute(f"ALTER TABLE {table} ALTER id SET DEFAULT nextval('{sequence}')")
            if symbol_index:
                cursor.execute(f"CREATE INDEX {symbol_index} ON {table} (symbol)")
        for statement in create_views(TABLES_0002):
            cursor.execute(statement)


def unpartition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    models = {
        model._meta.db_table: model
        for model in apps.get_app_config("finra").get_models()
        if model._meta.db_table in PARTITIONED_TABLES
    }
    with schema_editor.connection.cursor() as cursor:
        for statement in drop_views(TABLES_0002):
            cursor.execute(statement)
        for table, symbol_index in PARTITIONED_TABLES.items():
            parted = f"{table}_partitioned"
            cursor.execute(f"ALTER TABLE {table} RENAME TO {parted}")
            cursor.execute(f"ALTER SEQUENCE {sequence_name(table)} RENAME TO {table}_id_old")
            if symbol_index:
                cursor.execute(f"DROP INDEX {symbol_index}")
            schema_editor.create_model(models[table])
            columns = _loaded_columns(cursor, parted)
            cursor.execute(
                f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {parted} ORDER BY id"
            )
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
            )
            cursor.execute(f"DROP TABLE {parted}")
        for statement in create_views(TABLES_0002):
            cursor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("finra", "0004_merge_0003_data_api_roles_0003_faster_storage")]

    operations = [migrations.RunPython(partition, unpartition)]
