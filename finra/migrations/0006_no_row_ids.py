"""PostgreSQL: dataset rows get no row id (``id`` NULL); see ``finra.partitions``.

Drops the NOT NULL and the sequence DEFAULT of ``id`` on every partitioned dataset table, and the
sequences. Rows already stored keep their ids. SQLite keeps its ordinary autoincrement ids.
Reversing gives every row an id again from a new sequence.
"""

from django.db import migrations

from finra.partitions import PARTITIONED_TABLES_0005 as PARTITIONED_TABLES
from finra.partitions import sequence_name


def drop_row_ids(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for table in PARTITIONED_TABLES:
            cursor.execute(f"ALTER TABLE {table} ALTER id DROP DEFAULT, ALTER id DROP NOT NULL")
            cursor.execute(f"DROP SEQUENCE IF EXISTS {sequence_name(table)}")


def restore_row_ids(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for table in PARTITIONED_TABLES:
            sequence = sequence_name(table)
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")
            start = int(cursor.fetchone()[0])
            cursor.execute(
                f"CREATE SEQUENCE {sequence} START {start} CACHE 1000 OWNED BY {table}.id"
            )
            cursor.execute(f"UPDATE {table} SET id = nextval('{sequence}') WHERE id IS NULL")
            cursor.execute(
                f"ALTER TABLE {table} ALTER id SET DEFAULT nextval('{sequence}'),"
                " ALTER id SET NOT NULL"
            )


class Migration(migrations.Migration):
    dependencies = [("finra", "0005_capture_partitions")]

    operations = [migrations.RunPython(drop_row_ids, restore_row_ids)]
