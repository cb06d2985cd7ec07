"""PostgreSQL: the symbol venue share views filter their captures by an array, not a join.

Read across weeks, the views keep every normalized partition (one per capture: 1,560 in ten
years of three tiers), and PostgreSQL plans the semi-join with the captures table once per
partition, about ten times the planning of the bare scan: seconds for one symbol's ten years.
``n.capture_id = ANY(ARRAY(subquery))`` builds the captures once (an init plan) and filters each
partition's rows by it. Same rows, same columns. SQLite keeps the ``IN`` form (no partitions).
"""

from django.db import migrations

from finra.views_sql import (
    SYMBOL_VENUE_SHARE,
    SYMBOL_VENUE_SHARE_LATEST_VIEW,
    SYMBOL_VENUE_SHARE_VIEW,
    SYMBOL_VENUE_SHARE_VIEWS_PG,
)


def to_arrays(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for statement in SYMBOL_VENUE_SHARE_VIEWS_PG:
            cursor.execute(statement)


def to_joins(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"DROP VIEW {SYMBOL_VENUE_SHARE}_latest")
        cursor.execute(f"DROP VIEW {SYMBOL_VENUE_SHARE}")
        cursor.execute(SYMBOL_VENUE_SHARE_VIEW)
        cursor.execute(SYMBOL_VENUE_SHARE_LATEST_VIEW)


class Migration(migrations.Migration):
    dependencies = [("finra", "0011_scheduler_runs_role")]

    operations = [migrations.RunPython(to_arrays, to_joins)]
