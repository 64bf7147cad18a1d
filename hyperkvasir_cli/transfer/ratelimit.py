"""A token bucket shared by every connection of a download (--limit-rate)."""

from __future__ import annotations

import threading

from hyperkvasir_cli.core.clock import Clock


class RateLimiter:
    """Callers ask for bytes before they write them; the bucket holds about 0.25 s of rate."""

    def __init__(self, bytes_per_second: int, clock: Clock) -> None:
        self._rate = float(bytes_per_second)
        self._clock = clock
        self._capacity = max(self._rate / 4, 64 * 1024)
        self._tokens = self._capacity
        self._last = clock.monotonic()
        self._lock = threading.Lock()

    def acquire(self, amount: int) -> None:
        """Block (on the injected clock) until ``amount`` bytes may pass."""
        with self._lock:
            now = self._clock.monotonic()
            self._tokens = min(self._capacity, self._tokens + (now - self._last) * self._rate)
            self._last = now
            self._tokens -= amount
            debt = -self._tokens
        if debt > 0:
            self._clock.sleep(debt / self._rate)
