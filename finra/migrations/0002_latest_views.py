from django.db import migrations

from finra.views_sql import TABLES_0002, create_views, drop_views

# Plain SQL that SQLite and PostgreSQL both accept; see finra/views_sql.py.


class Migration(migrations.Migration):
    dependencies = [("finra", "0001_initial")]

    operations = [
        migrations.RunSQL(sql=create_views(TABLES_0002), reverse_sql=drop_views(TABLES_0002)),
    ]
