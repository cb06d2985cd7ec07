"""PostgreSQL: symbol columns with a symbol index compare byte by byte (collation "C").

The symbol indexes are built on every capture after its load (``finra.storage``), and the calcs
group and join by symbol in index order. Under the database's default collation (a libc locale
such as ``C.UTF-8`` or ``en_US.UTF-8``) every comparison of two symbols is a ``strcoll`` call
and sorting cannot use abbreviated keys; under "C" it is a ``memcmp``, which halves the index
build of a 1M-row capture. Symbols are ASCII tickers, and the API and the calcs already order
them by code point (``COLLATE "C"``), so no ordering a reader sees changes. SQLite compares
text by bytes already (BINARY): nothing to do there.
"""

from django.db import migrations

from finra.views_sql import create_views, drop_views

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

TABLES = (
    "finra_otc_transparency_normalized",
    "finra_otc_transparency_symbol_hhi",
    "finra_otc_transparency_tier_split",
)


def _collate(collation: str):
    def alter(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        with schema_editor.connection.cursor() as cursor:
            for statement in drop_views(TABLES_0007, symbol_venue_share=True):
                cursor.execute(statement)
            for table in TABLES:
                # Every partition follows, and the symbol indexes are rebuilt.
                cursor.execute(
                    f'ALTER TABLE {table} ALTER COLUMN symbol TYPE text COLLATE "{collation}"'
                )
            for statement in create_views(TABLES_0007, symbol_venue_share=True):
                cursor.execute(statement)

    return alter


class Migration(migrations.Migration):
    dependencies = [("finra", "0007_symbol_venue_share_view")]

    operations = [migrations.RunPython(_collate("C"), _collate("default"))]
