"""On PostgreSQL the database itself refuses to change or delete audit events."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import DatabaseError, connection, transaction

from tests.factories import enqueue
from workqueue.models import AuditEvent, WorkItem

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def refused(sql: str, params: list) -> str:
    with pytest.raises(DatabaseError) as error, transaction.atomic(), connection.cursor() as cur:
        cur.execute(sql, params)
    return str(error.value)


def test_update_and_delete_are_refused_with_raw_sql():
    item = enqueue(pipeline="produce_first", week="w")
    event = AuditEvent.objects.get(work_item=item)
    message = refused("UPDATE core_audit_events SET action = 'forged' WHERE id = %s", [event.pk])
    assert "append-only" in message
    assert "append-only" in refused("DELETE FROM core_audit_events WHERE id = %s", [event.pk])
    # Clearing the link together with another column is still a change of the event.
    refused(
        "UPDATE core_audit_events SET work_item_id = NULL, actor_name = 'x' WHERE id = %s",
        [event.pk],
    )
    # Pointing the event at another item is refused too.
    other = enqueue(pipeline="produce_first", week="other")
    refused("UPDATE core_audit_events SET work_item_id = %s WHERE id = %s", [other.pk, event.pk])
    event.refresh_from_db()
    assert (event.action, event.work_item_id) == ("enqueue", item.pk)


def test_deleting_a_work_item_or_a_user_keeps_their_audit_events():
    user = User.objects.create_user("leaver")
    item = enqueue(pipeline="produce_first", week="gone")
    AuditEvent.objects.create(actor=user, actor_name="leaver", source="admin", action="retry")
    WorkItem.objects.filter(pk=item.pk).delete()
    user.delete()
    assert AuditEvent.objects.count() == 2
    assert set(AuditEvent.objects.values_list("work_item_id", "actor_id")) == {(None, None)}
    assert set(AuditEvent.objects.values_list("action", flat=True)) == {"enqueue", "retry"}
