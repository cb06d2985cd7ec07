"""The least a Django view can do for an enqueue: parse JSON, insert one row, answer JSON.

No authentication, no validation, no audit event: the floor the API is measured against.
"""

from __future__ import annotations

import json

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from workqueue.models import WorkItem


@csrf_exempt
@require_POST
def baseline_insert(request: HttpRequest) -> JsonResponse:
    body = json.loads(request.body)
    item = WorkItem.objects.create(
        domain=body["domain"], pipeline=body["pipeline"], partition_key=body["partition_key"]
    )
    return JsonResponse({"id": item.pk, "state": item.state}, status=201)
