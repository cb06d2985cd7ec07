"""What a recorded failure may show: the text of errors and tracebacks is read by viewers.

An exception's message quotes what it was given: a URL with ``user:password@`` in it, a file
under the server's data directory. The work queue records every failure through
``workqueue.outcomes``, which passes the text through :func:`redact` first, so no pipeline has
to remember. The queue knows URLs, not domains: a domain registers what else it hides (FINRA
shows its data directory as ``FINRA_DATA_DIR``) with :func:`register_redactor`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

#: The user information of a URL (``scheme://user:password@``), up to the last ``@`` before the
#: path. Over-redacting an odd string is harmless; leaving a password is not.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.\-]*://)[^\s/?#]*@", re.IGNORECASE)

#: What replaces the user information: a reader still sees that some was there.
HIDDEN = "***"

Redactor = Callable[[str], str]

_redactors: list[Redactor] = []


def register_redactor(redactor: Redactor) -> None:
    """Add a domain's redaction (text in, text out), run after the URL rule. Idempotent."""
    if redactor not in _redactors:
        _redactors.append(redactor)


def redact_url_credentials(text: str) -> str:
    """``https://user:s3cret@host/x`` becomes ``https://***@host/x``, wherever it is in text."""
    return _URL_USERINFO.sub(lambda match: f"{match['scheme']}{HIDDEN}@", text)


def redact(text: str | None) -> str | None:
    """``text`` as viewers may read it: URL credentials and what the domains registered,
    hidden. None stays None."""
    if not text:
        return text
    text = redact_url_credentials(text)
    for redactor in _redactors:
        text = redactor(text)
    return text
