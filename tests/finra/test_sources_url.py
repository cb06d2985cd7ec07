from __future__ import annotations

import pytest

from finra.sources import NotPublishedYet, SourceError, SourceRefused
from finra.sources.url import check_url_allowed, fetch_url
from tests.finra.fake_finra import FakeFileServer, Reply

WEEKLY_FILE = (
    b"tierDescription|issueSymbolIdentifier|issueName|marketParticipantName|MPID|"
    b"totalWeeklyShareQuantity|totalWeeklyTradeCount|lastUpdateDate\n"
    b"NMS Tier 1|BRK.B|Berkshire Hathaway Inc.  New|UBS Securities LLC|UBSA|1200|12|2025-12-22\n"
    b"NMS Tier 1|AAPL|Apple Inc.|De Minimis Firms||300|3|2025-12-22"
)


@pytest.fixture(autouse=True)
def _download_settings(settings):
    settings.FINRA_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.FINRA_DOWNLOAD_MAX_BYTES = 1000
    settings.FINRA_DOWNLOAD_TIMEOUT_SECONDS = 0.5


@pytest.fixture
def server():
    """A running file server; tests add their routes to ``server.routes``."""
    with FakeFileServer() as running:
        yield running


def test_returns_the_exact_bytes_and_the_origin(server):
    server.routes["/ats/2025-12-12.psv"] = Reply(body=WEEKLY_FILE)
    url = server.url("/ats/2025-12-12.psv")
    content = fetch_url(url)

    assert content.data == WEEKLY_FILE
    assert content.origin == f"url:{url}"
    assert [(r.method, r.path) for r in server.requests] == [("GET", "/ats/2025-12-12.psv")]


def test_a_chunked_body_without_length_under_the_limit_is_read_whole(server):
    server.routes["/f.psv"] = Reply(body=WEEKLY_FILE, chunked=True)
    content = fetch_url(server.url("/f.psv"))

    assert content.data == WEEKLY_FILE


def test_host_not_allowed_is_refused_without_any_request(settings, server):
    settings.FINRA_ALLOWED_HOSTS = ["finra.org", "api.finra.org"]
    server.routes["/f.psv"] = Reply(body=WEEKLY_FILE)
    with pytest.raises(SourceRefused) as refused:
        fetch_url(server.url("/f.psv"))

    assert str(refused.value) == (
        "host 127.0.0.1 is not in FINRA_ALLOWED_HOSTS (allowed: finra.org, api.finra.org)"
    )
    assert server.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/weekly.psv",
        "https://evilfinra.org/weekly.psv",  # a suffix, but not a subdomain
        "https://finra.org.evil.example/weekly.psv",
        "https://127.1/weekly.psv",  # another spelling of 127.0.0.1 is not the listed one
        "https://10.0.0.1/weekly.psv",
        "https://[::1]/weekly.psv",
        "https://fi\u0144ra.org/weekly.psv",  # non-ASCII look-alike
        "https://finra.org\\@evil.example/weekly.psv",
        "https://finra.org%2eevil.example/weekly.psv",
    ],
)
def test_hosts_outside_the_list_are_refused(settings, url):
    settings.FINRA_ALLOWED_HOSTS = ["finra.org", "127.0.0.1"]

    with pytest.raises(SourceRefused):
        fetch_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://cdn.finra.org/weekly.psv",
        "https://CDN.FINRA.ORG./weekly.psv",
        "http://finra.org:8443/weekly.psv",
        "https://127.0.0.1/weekly.psv",
    ],
)
def test_listed_hosts_and_their_subdomains_pass_the_host_check(settings, url):
    settings.FINRA_ALLOWED_HOSTS = ["finra.org", "127.0.0.1"]

    check_url_allowed(url)  # does not raise


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/weekly.psv", "file:///etc/passwd", "gopher://127.0.0.1/", "/x.psv"]
)
def test_other_schemes_are_refused(url):
    with pytest.raises(SourceRefused, match="scheme"):
        fetch_url(url)


def test_userinfo_trick_is_refused_without_any_request(settings, server):
    settings.FINRA_ALLOWED_HOSTS = ["finra.org", "127.0.0.1"]
    server.routes["/f.psv"] = Reply(body=WEEKLY_FILE)
    port = server.base_url.rsplit(":", 1)[1]
    with pytest.raises(SourceRefused, match="user information"):
        fetch_url(f"http://finra.org@127.0.0.1:{port}/f.psv")
    with pytest.raises(SourceRefused, match="user information"):
        fetch_url(f"http://127.0.0.1:{port}@evil.example/f.psv")

    assert server.requests == []


def test_redirect_to_an_allowed_host_is_followed(server):
    server.routes["/latest.psv"] = Reply(status=302, headers={"Location": "/2025-12-12.psv"})
    server.routes["/2025-12-12.psv"] = Reply(body=WEEKLY_FILE)

    content = fetch_url(server.url("/latest.psv"))

    assert content.data == WEEKLY_FILE
    assert content.origin == f"url:{server.url('/latest.psv')}"
    assert [r.path for r in server.requests] == ["/latest.psv", "/2025-12-12.psv"]


def test_redirect_to_a_host_not_allowed_is_refused(server):
    server.routes["/f.psv"] = Reply(status=302, headers={"Location": "http://evil.example/f.psv"})

    with pytest.raises(SourceRefused) as refused:
        fetch_url(server.url("/f.psv"))

    assert "redirects to http://evil.example/f.psv" in str(refused.value)
    assert "host evil.example is not in FINRA_ALLOWED_HOSTS" in str(refused.value)
    assert len(server.requests) == 1


def test_endless_redirects_stop(server):
    server.routes["/loop"] = Reply(status=301, headers={"Location": "/loop"})
    with pytest.raises(SourceError, match="redirected more than 5 times"):
        fetch_url(server.url("/loop"))

    assert len(server.requests) == 6


def test_oversize_body_announced_by_content_length_is_refused_before_reading(server):
    # The server announces far more than it sends: only the header check can catch it at once.
    server.routes["/big.psv"] = Reply(body=b"x" * 10, content_length=10**12, stall_seconds=5)
    with pytest.raises(SourceError, match="exceeds the limit of 1,000 bytes"):
        fetch_url(server.url("/big.psv"))


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_oversize_body_is_cut_off_while_streaming(chunked, settings, server):
    settings.FINRA_DOWNLOAD_MAX_BYTES = len(WEEKLY_FILE) - 1
    server.routes["/big.psv"] = Reply(body=WEEKLY_FILE, chunked=chunked)
    with pytest.raises(SourceError) as error:
        fetch_url(server.url("/big.psv"))

    assert f"exceeds the limit of {len(WEEKLY_FILE) - 1:,} bytes" in str(error.value)


def test_body_exactly_at_the_limit_is_accepted(settings, server):
    settings.FINRA_DOWNLOAD_MAX_BYTES = len(WEEKLY_FILE)
    server.routes["/f.psv"] = Reply(body=WEEKLY_FILE, chunked=True)
    assert fetch_url(server.url("/f.psv")).data == WEEKLY_FILE


def test_server_that_does_not_answer_times_out(server):
    server.routes["/slow.psv"] = Reply(body=WEEKLY_FILE, delay_seconds=5)
    with pytest.raises(SourceError) as error:
        fetch_url(server.url("/slow.psv"))

    assert type(error.value) is SourceError
    assert "Read timed out" in str(error.value)


def test_body_that_stalls_times_out(server):
    server.routes["/slow.psv"] = Reply(body=WEEKLY_FILE, stall_seconds=5)
    with pytest.raises(SourceError) as error:
        fetch_url(server.url("/slow.psv"))

    assert type(error.value) is SourceError
    assert "Read timed out" in str(error.value)


def test_body_cut_short_is_an_error(server):
    server.routes["/f.psv"] = Reply(body=WEEKLY_FILE[:100], content_length=len(WEEKLY_FILE))
    with pytest.raises(SourceError) as error:
        fetch_url(server.url("/f.psv"))

    assert type(error.value) is SourceError
    assert "IncompleteRead" in str(error.value)


def test_connection_refused_is_a_retryable_error():
    with FakeFileServer() as stopped:
        url = stopped.url("/f.psv")
    # The server is gone: nothing listens on its port any more.

    with pytest.raises(SourceError) as error:
        fetch_url(url)

    assert type(error.value) is SourceError
    assert "Connection refused" in str(error.value)


@pytest.mark.parametrize("status", [500, 502, 503, 429, 408])
def test_server_errors_are_retryable(status, server):
    server.routes["/f.psv"] = Reply(status=status, body=b"oops")
    with pytest.raises(SourceError) as error:
        fetch_url(server.url("/f.psv"))

    assert type(error.value) is SourceError
    assert f"answered {status}" in str(error.value)


def test_404_is_not_published_yet(server):
    with pytest.raises(NotPublishedYet, match="answered 404: not published yet"):
        fetch_url(server.url("/2025-12-12.psv"))


@pytest.mark.parametrize("status", [400, 401, 403, 410])
def test_other_client_errors_are_refused(status, server):
    server.routes["/f.psv"] = Reply(status=status)
    with pytest.raises(SourceRefused, match=f"answered {status}"):
        fetch_url(server.url("/f.psv"))
