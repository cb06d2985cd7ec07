"""On PostgreSQL the audit table refuses UPDATE and DELETE in the database itself.

The one UPDATE it lets through is the one Django's ``on_delete=SET_NULL`` makes when a work item
or a user is deleted: it only clears ``work_item_id`` and/or ``actor_id`` and changes nothing
else, so the event stays and only loses its link. TRUNCATE (a table owner's maintenance, and how
test databases are emptied) is not a row change and is not refused. SQLite: nothing to do.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION core_audit_events_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND (NEW.work_item_id IS NULL OR NEW.work_item_id IS NOT DISTINCT FROM OLD.work_item_id)
       AND (NEW.actor_id IS NULL OR NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id)
       AND (to_jsonb(NEW) - 'work_item_id' - 'actor_id')
           = (to_jsonb(OLD) - 'work_item_id' - 'actor_id') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'core_audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER core_audit_events_append_only
    BEFORE UPDATE OR DELETE ON core_audit_events
    FOR EACH ROW EXECUTE FUNCTION core_audit_events_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS core_audit_events_append_only ON core_audit_events;
DROP FUNCTION IF EXISTS core_audit_events_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("workqueue", "0006_roles_admin_pages")]

    operations = [migrations.RunPython(forwards, backwards)]
