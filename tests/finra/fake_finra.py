"""Small fake HTTP servers standing in for FINRA in tests: a file host and the Query API.

Each runs a ``ThreadingHTTPServer`` on 127.0.0.1 (port 0, so tests never collide) in a
background thread, records every request it receives, and answers with scripted
:class:`Reply` objects. Use them as context managers::

    with FakeFileServer({"/ats.psv": Reply(body=b"...")}) as server:
        fetch_url(server.url("/ats.psv"))
    assert len(server.requests) == 1
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from finra.tiers import api_tier_identifier, file_tier_description
from finra.weeks import expected_publication_date, week_start


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    """One scripted HTTP answer."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    #: Send the body with ``Transfer-Encoding: chunked`` and no Content-Length.
    chunked: bool = False
    #: Announce this Content-Length instead of the body's real length.
    content_length: int | None = None
    #: Wait this long before answering at all (a server that hangs).
    delay_seconds: float = 0.0
    #: Send the headers, then wait this long before the body (a stalled download).
    stall_seconds: float = 0.0


class FakeServer:
    """Base class: subclasses answer each recorded request in :meth:`respond`."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        # Set on exit so handlers sleeping in a delay or stall give up at once.
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def respond(self, request: RecordedRequest) -> Reply:
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        assert self._server is not None, "the server is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def __enter__(self) -> Self:
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._server is not None and self._thread is not None
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _wait(self, seconds: float) -> bool:
        """Sleep unless the server is stopping; True when it is."""
        return seconds > 0 and self._stopping.wait(seconds)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout, size limit) leaves a broken pipe behind: expected.
        pass


def _handler_for(fake: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = RecordedRequest(
                method=self.command,
                path=self.path,
                headers=dict(self.headers.items()),
                body=self.rfile.read(length),
            )
            fake._record(request)
            reply = fake.respond(request)
            self.close_connection = True
            if fake._wait(reply.delay_seconds):
                return
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.chunked:
                self.send_header("Transfer-Encoding", "chunked")
            elif reply.status != 204:
                length = len(reply.body) if reply.content_length is None else reply.content_length
                self.send_header("Content-Length", str(length))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.flush()
            if fake._wait(reply.stall_seconds):
                return
            if reply.chunked:
                for start in range(0, len(reply.body), 4096):
                    piece = reply.body[start : start + 4096]
                    self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.wfile.write(reply.body)

    return Handler


class FakeFileServer(FakeServer):
    """Serves fixed replies by path; any other path is a 404."""

    def __init__(self, routes: dict[str, Reply] | None = None) -> None:
        super().__init__()
        self.routes = dict(routes or {})

    def respond(self, request: RecordedRequest) -> Reply:
        return self.routes.get(request.path, Reply(status=404, body=b"Not Found"))


WEEKLY_SUMMARY_PATH = "/data/group/otcMarket/name/weeklySummary"
# Filters FINRA accepts on otcMarket/weeklySummary (the fake's subset).
_FILTER_FIELDS = ("weekStartDate", "tierIdentifier", "summaryTypeCode", "issueSymbolIdentifier")
MAX_LIMIT = 5000
#: In a :class:`FakeFinraApi` script: answer this request as FINRA would, from the records.
ANSWER_NORMALLY = None


class FakeFinraApi(FakeServer):
    """The Query API's ``otcMarket/weeklySummary`` over an in-memory list of records.

    Like FINRA it filters on ``compareFilters`` (EQUAL only), pages with ``limit``/``offset``,
    sets ``Record-Total``, answers 204 with no body when nothing matches and 400 for a request
    it cannot read. It can be scripted to misbehave:

    - ``script``: replies used for the first requests, in order, before normal paging
      (``ANSWER_NORMALLY`` in the script answers that one request normally);
    - ``always``: a reply for every request (a server that is down for good);
    - ``short_pages``: offset -> number of records to leave out of that page;
    - ``record_totals``: offset -> Record-Total to announce on that page instead of the truth.
    """

    def __init__(
        self,
        records: Iterable[dict[str, Any]] = (),
        *,
        script: Iterable[Reply | None] = (),
        always: Reply | None = None,
        short_pages: dict[int, int] | None = None,
        record_totals: dict[int, int] | None = None,
    ) -> None:
        super().__init__()
        self.records = list(records)
        self.script = list(script)
        self.always = always
        self.short_pages = dict(short_pages or {})
        self.record_totals = dict(record_totals or {})

    @property
    def endpoint(self) -> str:
        return self.url(WEEKLY_SUMMARY_PATH)

    def page_requests(self) -> list[dict[str, Any]]:
        """The JSON bodies received, in order."""
        return [request.json() for request in self.requests]

    def respond(self, request: RecordedRequest) -> Reply:
        if self.always is not None:
            return self.always
        if self.script:
            scripted = self.script.pop(0)
            if scripted is not ANSWER_NORMALLY:
                return scripted
        if request.method != "POST" or request.path != WEEKLY_SUMMARY_PATH:
            return _error(404, f"no dataset at {request.method} {request.path}")
        if not request.headers.get("Content-Type", "").startswith("application/json"):
            return _error(415, "Content-Type must be application/json")
        try:
            query = json.loads(request.body)
            limit, offset = int(query["limit"]), int(query.get("offset", 0))
            filters = [
                (item["fieldName"], item["fieldValue"])
                for item in query.get("compareFilters", [])
                if item["compareType"] == "EQUAL"
            ]
        except (ValueError, KeyError, TypeError) as exc:
            return _error(400, f"cannot read the request: {exc}")
        if not 0 < limit <= MAX_LIMIT:
            return _error(400, f"limit must be between 1 and {MAX_LIMIT}")
        unknown = [name for name, _ in filters if name not in _FILTER_FIELDS]
        if unknown:
            return _error(400, f"unknown fieldName {unknown[0]}")
        matching = [
            record
            for record in self.records
            if all(str(record.get(name)) == value for name, value in filters)
        ]
        if not matching:
            return Reply(status=204)
        page = matching[offset : offset + limit]
        page = page[: max(len(page) - self.short_pages.get(offset, 0), 0)]
        total = self.record_totals.get(offset, len(matching))
        return Reply(
            body=json.dumps(page).encode(),
            headers={"Content-Type": "application/json", "Record-Total": str(total)},
        )


def _error(status: int, message: str) -> Reply:
    body = json.dumps({"statusCode": status, "message": message}).encode()
    return Reply(status=status, body=body, headers={"Content-Type": "application/json"})


_ISSUES = (
    ("AAPL", "Apple Inc. Common Stock"),
    ("BRK.B", "Berkshire Hathaway Inc. New Common Stock"),
    ("KKR$D", "KKR & Co. Inc. 6.25% Series D Mandatory Convertible Preferred Stock"),
    ("SPY", "SPDR S&P 500 ETF Trust"),
    ("MSFT", "Microsoft Corporation Common Stock"),
)
_FIRMS = (
    ("UBS Securities LLC", "UBSA"),
    ("INSTINET CROSSING", "JPBX"),
    ("Virtu Americas LLC", "VFMI"),
    ("De Minimis Firms", None),
)


def weekly_summary_records(count: int, *, week_ending: date, tier: str) -> list[dict[str, Any]]:
    """``count`` realistic API records for one week and tier, as FINRA returns them.

    Includes the fields the weekly file drops (weekStartDate, summaryTypeCode, ...), a null
    MPID on the "De Minimis Firms" rows and a publication date after the week.
    """
    published = expected_publication_date(week_ending, tier)
    records = []
    for index in range(count):
        symbol, name = _ISSUES[index % len(_ISSUES)]
        firm, mpid = _FIRMS[(index // len(_ISSUES)) % len(_FIRMS)]
        records.append(
            {
                "tierDescription": file_tier_description(tier),
                "issueSymbolIdentifier": symbol,
                "issueName": name,
                "marketParticipantName": firm,
                "MPID": mpid,
                "totalWeeklyShareQuantity": 1000 + 37 * index,
                "totalWeeklyTradeCount": 10 + index % 90,
                "lastUpdateDate": published.isoformat(),
                "weekStartDate": week_start(week_ending).isoformat(),
                "tierIdentifier": api_tier_identifier(tier),
                "summaryTypeCode": "ATS_W_SMBL_FIRM",
                "initialPublishedDate": published.isoformat(),
                "productTypeCode": "OTC" if api_tier_identifier(tier) == "OTCE" else "NMS",
                "firmCRDNumber": 7654 + index % 7,
                "lastReportedDate": (published - timedelta(days=3)).isoformat(),
            }
        )
    return records
