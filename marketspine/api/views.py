"""The base of every API view that takes a JSON body."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.views import APIView

from marketspine.api.parsers import require_json_body

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH"})


class JSONAPIView(APIView):
    """An APIView whose writes must carry a JSON body.

    The check runs in ``initial``, after authentication, permissions and throttling, so an
    anonymous or unauthorised caller still gets 401/403 first, and only for methods the view
    has (others stay 405).
    """

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if request.method in WRITE_METHODS and hasattr(self, request.method.lower()):
            require_json_body(request)
