"""Retry timing: pure arithmetic, read from settings at call time so tests can override it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float
    factor: float
    max_seconds: float

    @classmethod
    def from_settings(cls) -> RetryPolicy:
        return cls(
            base_seconds=settings.WORKQUEUE_RETRY_BASE_SECONDS,
            factor=settings.WORKQUEUE_RETRY_FACTOR,
            max_seconds=settings.WORKQUEUE_RETRY_MAX_SECONDS,
        )

    def delay_before_attempt(self, attempt: int) -> timedelta:
        """Delay before attempt ``attempt`` (2 or more): ``base * factor ** (attempt - 2)``.

        With the defaults: 5 minutes before the second attempt, 15 before the third, capped.
        """
        if attempt < 2:
            return timedelta(0)
        seconds = self.base_seconds * self.factor ** (attempt - 2)
        return timedelta(seconds=min(seconds, self.max_seconds))
