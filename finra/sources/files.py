"""Weekly files from the local data directory (``FINRA_DATA_DIR``).

The default file of a partition is ``<FINRA_DATA_DIR>/<week_ending>/<TIER>.psv``
(:func:`finra.samplegen.sample_file_name`). ``params.file_path`` may name another file, but
only one inside ``FINRA_DATA_DIR``: the path is resolved (``..`` and symlinks followed) before
the check, so neither a traversal nor a symlink can reach the rest of the disk.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from django.conf import settings

from finra.samplegen import sample_file_name
from finra.sources import NotPublishedYet, SourceContent, SourceError, SourceRefused
from finra.tiers import Tier

_PUBLICATION_HINT = {
    Tier.NMS_TIER_1: "FINRA publishes NMS Tier 1 about 2 weeks after the week ends",
    Tier.NMS_TIER_2: "FINRA publishes NMS Tier 2 about 4 weeks after the week ends",
    Tier.OTC: "FINRA publishes OTC about 4 weeks after the week ends",
}


def data_dir() -> Path:
    return Path(settings.FINRA_DATA_DIR).resolve()


def resolve_inside_data_dir(file_path: str) -> Path:
    """The absolute path of ``file_path`` (relative to FINRA_DATA_DIR or absolute), refusing
    anything that resolves outside FINRA_DATA_DIR."""
    root = data_dir()
    candidate = Path(file_path)
    if not candidate.is_absolute():
        candidate = root / candidate
    resolved = candidate.resolve()
    if not resolved.is_relative_to(root):
        raise SourceRefused(
            f"params.file_path {file_path!r} resolves outside FINRA_DATA_DIR; "
            "only files inside the data directory may be read"
        )
    return resolved


def read_week_file(*, week_ending: date, tier: str, file_path: str | None = None) -> SourceContent:
    """The content of the partition's file, from the default layout or ``file_path``.

    A missing default file raises NotPublishedYet (the week is not there yet, so the item
    waits); a missing explicit ``file_path`` is a SourceError, since waiting will not fix a
    wrong path.
    """
    root = data_dir()
    if file_path:
        path = resolve_inside_data_dir(file_path)
        if not path.is_file():
            raise SourceRefused(f"params.file_path {file_path!r} not found in FINRA_DATA_DIR")
    else:
        relative = sample_file_name(week_ending, tier)
        path = resolve_inside_data_dir(relative)
        if not path.is_file():
            raise NotPublishedYet(
                f"file {shown_path(path)} not found; {_PUBLICATION_HINT[Tier(tier)]}"
            )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read {shown_path(path)}: {exc.strerror or exc}") from None
    return SourceContent(data=data, origin=f"file:{path.relative_to(root).as_posix()}")


# --- what errors show -------------------------------------------------------------------------

#: How messages name the data directory: the setting, not where it is on the server's disk.
DATA_DIR_NAME = "FINRA_DATA_DIR"


def shown_path(path: Path) -> str:
    """A path inside the data directory as errors show it: ``FINRA_DATA_DIR/<week>/OTC.psv``."""
    return f"{DATA_DIR_NAME}/{path.relative_to(data_dir()).as_posix()}"


def hide_data_dir(text: str) -> str:
    """The work queue's redaction for FINRA (see ``workqueue.redaction``): any absolute
    spelling of the data directory left in an error or a traceback (an OS error's message,
    a library's) becomes ``FINRA_DATA_DIR``, so viewers never learn the server's layout."""
    configured = Path(settings.FINRA_DATA_DIR)
    spellings = {str(configured.absolute()), str(data_dir())} - {"/"}
    for spelling in sorted(spellings, key=len, reverse=True):
        # Not inside a longer name: /srv/finra must not turn /srv/finra2 into FINRA_DATA_DIR2.
        text = re.sub(re.escape(spelling) + r"(?![\w.-])", DATA_DIR_NAME, text)
    return text
