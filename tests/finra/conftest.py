from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from finra.samplegen import generate_week_file, sample_file_name
from workqueue.models import WorkItem
from workqueue.runner import drain
from workqueue.services import Actor, work_item_enqueue

DATA = Path(__file__).parent / "data"
CORPUS = Path(__file__).parent / "corpus"
REAL_FILE = DATA / "finra_otc_weekly_otc_20251215.psv"
# The real file's lastUpdateDate is 2025-12-15: FINRA published it 31 days after the week ending
# 2025-11-14, the week it holds.
REAL_WEEK = "2025-11-14"
# The week the bad-input corpus is written for (see corpus/README.md).
CORPUS_WEEK = "2025-12-12"
DOMAIN = "finra.otc_transparency"


@pytest.fixture
def data_dir(tmp_path: Path, settings: Any) -> Path:
    """An empty FINRA_DATA_DIR for the test."""
    root = tmp_path / "finra"
    root.mkdir()
    settings.FINRA_DATA_DIR = root
    return root


@pytest.fixture
def place_file(data_dir: Path) -> Callable[..., Path]:
    """Put content (bytes or a file to copy) where the default file source looks for it."""

    def place(week_ending: str, tier: str, content: bytes | Path) -> Path:
        path = data_dir / sample_file_name(week_ending, tier)
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, path)
        else:
            path.write_bytes(content)
        return path

    return place


@pytest.fixture
def place_generated(place_file: Callable[..., Path]) -> Callable[..., Path]:
    def place(week_ending: str, tier: str, *, rows: int = 300, seed: int = 7, revision: int = 0):
        data = generate_week_file(
            week_ending=week_ending, tier=tier, rows=rows, seed=seed, revision=revision
        )
        return place_file(week_ending, tier, data)

    return place


def enqueue(pipeline: str, partition_key: dict[str, str], **kwargs: Any) -> WorkItem:
    kwargs.setdefault("actor", Actor.cli())
    return work_item_enqueue(
        domain=DOMAIN, pipeline=pipeline, partition_key=partition_key, **kwargs
    ).item


def run_queue() -> int:
    """Run every due item (and what they enqueue) in this process; returns how many ran."""
    return drain(time_budget=120).claimed
