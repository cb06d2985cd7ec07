from django.db import migrations

from finra.views_sql import create_views, drop_views

# Plain SQL that SQLite and PostgreSQL both accept; see finra/views_sql.py.

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


class Migration(migrations.Migration):
    dependencies = [("finra", "0001_initial")]

    operations = [
        migrations.RunSQL(sql=create_views(TABLES_0002), reverse_sql=drop_views(TABLES_0002)),
    ]
