"""Per-key request limits: a token bucket per key, answered with 429 and `Retry-After`.

A bucket holds `limit` requests and refills at `limit / window` per second, so a client may
burst up to the limit and then keeps the average rate. O(1) per request, no timers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable


class RateLimiter:
    def __init__(
        self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000
    ) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[Hashable, list[float]] = {}

    def check(self, key: Hashable, limit: int, window: float) -> int | None:
        """Take one request from `key`'s bucket; None if allowed, else seconds to wait (≥ 1)."""
        if limit <= 0:
            return None
        now = self.clock()
        rate = limit / window
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._buckets.clear()  # a flood of fresh keys must not grow memory without bound
            bucket = self._buckets[key] = [float(limit), now]
        else:
            bucket[0] = min(float(limit), bucket[0] + (now - bucket[1]) * rate)
            bucket[1] = now
        if bucket[0] >= 1.0:
            bucket[0] -= 1.0
            return None
        return max(1, math.ceil((1.0 - bucket[0]) / rate))

    def reset(self) -> None:
        self._buckets.clear()
