"""Download a weekly file from a URL given in the work item (``params.file_url``).

The URL comes from a person (an API payload, a command-line flag), so it is treated as untrusted:
only hosts listed in ``settings.FINRA_ALLOWED_HOSTS`` are contacted, redirects are followed by
hand so every hop is checked, and the body is read with a size limit and timeouts.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from finra.sources import NotPublishedYet, SourceContent, SourceError, SourceRefused

ALLOWED_SCHEMES = ("http", "https")
MAX_REDIRECTS = 5
_CHUNK_BYTES = 64 * 1024
_REDIRECT_STATUSES = (301, 302, 303, 307, 308)
# 4xx answers another attempt may fix: the work queue should retry them, not give up.
_RETRYABLE_CLIENT_STATUSES = (408, 429)
# A host name as DNS spells it: letters, digits, hyphens and dots. Anything else (a backslash,
# "%", a non-ASCII look-alike) is refused rather than left for two URL parsers to disagree on.
_HOST_NAME = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)*")
_UNSAFE_CHARACTERS = re.compile(r"[\x00-\x20\x7f]")


def fetch_url(url: str) -> SourceContent:
    """Download ``url`` and return its bytes unchanged, with origin ``"url:<url>"``.

    Which URLs are allowed (:func:`check_url_allowed`): ``http`` or ``https``, no user
    information, and a host in ``FINRA_ALLOWED_HOSTS``. Redirects are followed (at most
    ``MAX_REDIRECTS``) only when the target passes the same check.

    Limits: the body may not exceed ``FINRA_DOWNLOAD_MAX_BYTES`` (checked against
    Content-Length before reading, and again while streaming, after any content decoding, so a
    server without a length or a compressed bomb is cut off too). ``FINRA_DOWNLOAD_TIMEOUT_SECONDS``
    bounds the connection and each wait for data; the size limit, not a clock, bounds the total.

    Errors, chosen so the work queue retries only what another attempt can fix:

    - :class:`SourceRefused`: URL not allowed (no request is made), a redirect to a URL that is
      not allowed, or a 4xx answer other than 404, 408 and 429;
    - :class:`NotPublishedYet`: 404, usually a file FINRA has not published yet;
    - :class:`SourceError`: 5xx, 408, 429, any other unexpected status, connection errors,
      timeouts, a body over the limit or cut short.
    """
    max_bytes = settings.FINRA_DOWNLOAD_MAX_BYTES
    timeout = settings.FINRA_DOWNLOAD_TIMEOUT_SECONDS
    check_url_allowed(url)
    current = url
    with requests.Session() as session:
        for _ in range(MAX_REDIRECTS + 1):
            try:
                response = session.get(
                    current, stream=True, allow_redirects=False, timeout=(timeout, timeout)
                )
            except requests.RequestException as exc:
                raise SourceError(f"download of {current} failed: {exc}") from exc
            with response:
                if response.status_code in _REDIRECT_STATUSES:
                    location = response.headers.get("Location")
                    if not location:
                        raise SourceError(
                            f"{current} answered {response.status_code} without a Location"
                        )
                    target = urljoin(current, location)
                    try:
                        check_url_allowed(target)
                    except SourceRefused as exc:
                        raise SourceRefused(
                            f"{current} redirects to {target}, which is refused: {exc}"
                        ) from None
                    current = target
                    continue
                _check_status(response, current)
                data = _read_limited(response, current, max_bytes)
            return SourceContent(data=data, origin=f"url:{url}")
    raise SourceError(f"download of {url} was redirected more than {MAX_REDIRECTS} times")


def check_url_allowed(url: str) -> None:
    """Raise :class:`SourceRefused` unless ``url`` may be downloaded.

    The rules, deliberately simple:

    - scheme ``http`` or ``https``; no ``user:password@`` part (``https://finra.org@evil.com/``
      is a request to evil.com); no whitespace or control characters;
    - the host, compared case-insensitively and without a trailing dot, is listed in
      ``FINRA_ALLOWED_HOSTS`` or is a subdomain of a listed name (``cdn.finra.org`` is allowed
      by ``finra.org``; ``evilfinra.org`` is not);
    - an IP address is allowed only when that address itself is listed (no subdomain matching,
      and ``127.1`` is not ``127.0.0.1``);
    - any port is allowed on an allowed host: the list names hosts we trust, not services.

    The check is on names: a listed name whose DNS points somewhere unexpected is trusted.
    """
    allowed = list(settings.FINRA_ALLOWED_HOSTS)
    if _UNSAFE_CHARACTERS.search(url):
        raise SourceRefused(f"URL {url!r} contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise SourceRefused(f"URL {url!r} is not valid: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise SourceRefused(
            f"URL scheme {scheme or '(none)'!r} is not allowed in {url!r} "
            f"(allowed: {', '.join(ALLOWED_SCHEMES)})"
        )
    if "@" in parts.netloc:
        raise SourceRefused(
            f"URL {url!r} has user information before '@': the host would be "
            f"{parts.hostname!r}; remove the user part"
        )
    host = _normalized_host(parts.hostname or "")
    if not host:
        raise SourceRefused(f"URL {url!r} has no host")
    # requests hands the URL to urllib3, which parses it again: both must see the same host.
    try:
        urllib3_host = _normalized_host(parse_url(url).host or "")
    except LocationParseError as exc:
        raise SourceRefused(f"URL {url!r} is not valid: {exc}") from None
    if urllib3_host != host or not _is_allowed(host, allowed):
        raise SourceRefused(
            f"host {host} is not in FINRA_ALLOWED_HOSTS (allowed: {', '.join(allowed) or 'none'})"
        )


def _normalized_host(host: str) -> str:
    return host.strip("[]").rstrip(".").lower()


def _is_allowed(host: str, allowed: list[str]) -> bool:
    address = _ip_address(host)
    for entry in allowed:
        listed = _normalized_host(entry.strip())
        if address is not None:
            if address == _ip_address(listed):
                return True
        elif _HOST_NAME.fullmatch(host) and (host == listed or host.endswith("." + listed)):
            return True
    return False


def _ip_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _check_status(response: requests.Response, url: str) -> None:
    status = response.status_code
    if status == 200:
        return
    if status == 404:
        raise NotPublishedYet(f"{url} answered 404: not published yet?")
    if 400 <= status < 500 and status not in _RETRYABLE_CLIENT_STATUSES:
        raise SourceRefused(f"{url} answered {status} {response.reason}")
    raise SourceError(f"{url} answered {status} {response.reason}")


def _read_limited(response: requests.Response, url: str, max_bytes: int) -> bytes:
    too_big = (
        f"download of {url} exceeds the limit of {max_bytes:,} bytes (FINRA_DOWNLOAD_MAX_BYTES)"
    )
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise SourceError(too_big)
    chunks: list[bytes] = []
    received = 0
    try:
        for chunk in response.iter_content(chunk_size=_CHUNK_BYTES):
            received += len(chunk)
            if received > max_bytes:
                raise SourceError(too_big)
            chunks.append(chunk)
    except requests.RequestException as exc:
        raise SourceError(f"download of {url} failed after {received:,} bytes: {exc}") from exc
    return b"".join(chunks)
