"""When to try again: exponential backoff with jitter, and the server's Retry-After."""

from __future__ import annotations

import email.utils
import random
from dataclasses import dataclass, field
from datetime import datetime, timezone


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max((when - now).total_seconds(), 0.0)


@dataclass
class RetryPolicy:
    """``retries`` failures in a row without a byte moving, then this URL is given up.

    A failure after bytes flowed starts the count again: a slow server that drops the
    connection every few minutes still finishes.
    """

    retries: int = 8
    base_delay: float = 1.0
    max_delay: float = 60.0
    max_retry_after: float = 900.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds before retry number ``attempt`` (1-based)."""
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * float(2 ** max(attempt - 1, 0)))
        # "Equal jitter": never less than half the ceiling, so retries do spread out.
        return ceiling / 2 + self.rng.random() * ceiling / 2

    def exhausted(self, attempt: int) -> bool:
        return attempt > self.retries
