from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import override_settings
from rest_framework import serializers

from tests.factories import enqueue
from workqueue.api.serializers import WorkItemOutputSerializer
from workqueue.runner import drain

pytestmark = pytest.mark.django_db


def generic(item):
    """DRF's own per-field rendering of the declared fields: the reference."""
    return serializers.Serializer.to_representation(WorkItemOutputSerializer(), item)


@pytest.mark.parametrize("time_zone", ["UTC", "America/New_York"])
def test_direct_rendering_matches_drf_generic_rendering(time_zone):
    with override_settings(TIME_ZONE=time_zone):
        fresh = enqueue(week="fresh", params={"succeed_on": 2})
        failed = enqueue(
            week="failed", desired_at=datetime(2025, 12, 23, 10, 30, 0, 123456, tzinfo=UTC)
        )
        drain(time_budget=5)  # "failed" fails once: last_error and next_attempt_at are set
        failed.refresh_from_db()
        assert failed.last_error and failed.next_attempt_at
        for item in (fresh, failed):
            item.refresh_from_db()
            assert WorkItemOutputSerializer(item).data == generic(item)
