"""compat/ratelimit.py: a token bucket per key, on a clock the test turns by hand."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tryvoha.compat.ratelimit import RateLimiter


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def limiter(max_keys: int = 100_000) -> tuple[RateLimiter, Clock]:
    clock = Clock()
    return RateLimiter(clock=clock, max_keys=max_keys), clock


def test_a_burst_up_to_the_limit_then_429() -> None:
    rl, _ = limiter()
    assert [rl.check("k", 12, 60) for _ in range(12)] == [None] * 12
    assert rl.check("k", 12, 60) == 5  # one request refills in 60 / 12 s


def test_the_bucket_refills_at_limit_per_window() -> None:
    rl, clock = limiter()
    for _ in range(60):
        rl.check("k", 60, 60)
    assert rl.check("k", 60, 60) == 1
    clock.now += 1
    assert rl.check("k", 60, 60) is None
    assert rl.check("k", 60, 60) == 1
    clock.now += 10
    assert [rl.check("k", 60, 60) for _ in range(10)] == [None] * 10
    assert rl.check("k", 60, 60) == 1


def test_a_rested_bucket_holds_no_more_than_the_limit() -> None:
    rl, clock = limiter()
    rl.check("k", 5, 60)
    clock.now += 3600
    assert [rl.check("k", 5, 60) for _ in range(6)] == [None] * 5 + [12]


@pytest.mark.parametrize(
    ("limit", "window", "retry"),
    [(12, 60, 5), (60, 60, 1), (100, 60, 1), (8, 300, 38), (1, 3600, 3600), (7, 60, 9)],
)
def test_retry_after_is_whole_seconds_rounded_up(limit: int, window: float, retry: int) -> None:
    rl, _ = limiter()
    for _ in range(limit):
        assert rl.check("k", limit, window) is None
    assert rl.check("k", limit, window) == retry


def test_retry_after_counts_what_is_already_refilled() -> None:
    rl, clock = limiter()
    for _ in range(12):
        rl.check("k", 12, 60)  # 5 s per request
    clock.now += 3.5
    assert rl.check("k", 12, 60) == 2  # 1.5 s to go: rounded up
    clock.now += 1.4
    assert rl.check("k", 12, 60) == 1  # 0.1 s to go: never 0
    clock.now += 0.1
    assert rl.check("k", 12, 60) is None


def test_keys_are_separate_and_the_window_is_per_check() -> None:
    rl, _ = limiter()
    assert rl.check(("aiu", 1), 1, 60) is None
    assert rl.check(("aiu", 1), 1, 60) == 60
    assert rl.check(("aiu", 2), 1, 60) is None
    assert rl.check(("aiu-history", 1), 1, 300) is None
    assert rl.check(("aiu-history", 1), 1, 300) == 300


def test_no_limit_means_no_bucket() -> None:
    rl, _ = limiter()
    assert all(rl.check("k", 0, 60) is None for _ in range(1000))
    assert rl.check("k", -1, 60) is None
    assert rl._buckets == {}


def test_fresh_keys_cannot_grow_memory_without_bound() -> None:
    rl, _ = limiter(max_keys=100)
    for ip in range(1000):
        rl.check(("keyless", f"10.0.{ip // 256}.{ip % 256}"), 5, 300)
        assert len(rl._buckets) <= 100
    last = ("keyless", "10.0.3.231")  # its bucket is kept: four of five requests left
    assert [rl.check(last, 5, 300) for _ in range(5)] == [None] * 4 + [60]


@given(
    limit=st.integers(1, 1000),
    window=st.sampled_from([1, 60, 300, 3600]),
    gaps=st.lists(st.integers(0, 5_000), max_size=40),  # milliseconds between requests
)
def test_never_more_than_the_limit_plus_the_refill(limit: int, window: int, gaps: list[int]):
    """Over any stretch, what is allowed is at most the burst plus what the rate refilled."""
    clock = Clock(0.0)
    rl = RateLimiter(clock=clock)
    allowed = 0
    for gap in gaps:
        clock.now += gap / 1000
        if rl.check("k", limit, window) is None:
            allowed += 1
    assert allowed <= limit + clock.now * limit / window + 1e-9


def test_waiting_retry_after_is_enough() -> None:
    clock = Clock(0.0)
    rl = RateLimiter(clock=clock)
    assert [rl.check("k", 4, 300) for _ in range(2)] == [None, None]
    clock.now = 1.0
    assert [rl.check("k", 4, 300) for _ in range(2)] == [None, None]
    retry = rl.check("k", 4, 300)
    assert retry == 74
    clock.now += retry
    assert rl.check("k", 4, 300) is None


@given(
    limit=st.integers(1, 500),
    window=st.sampled_from([1, 7, 60, 300, 3600, 0.3]),
    start=st.floats(0, 1e7),
    gaps=st.lists(st.integers(0, 10_000), max_size=30),  # milliseconds between requests
)
def test_waiting_exactly_retry_after_is_always_enough(
    limit: int, window: float, start: float, gaps: list[int]
) -> None:
    clock = Clock(start)
    rl = RateLimiter(clock=clock)
    for gap in gaps:
        clock.now += gap / 1000
        rl.check("k", limit, window)
    while (retry := rl.check("k", limit, window)) is None:
        pass
    clock.now += retry
    assert rl.check("k", limit, window) is None


def test_a_flood_of_fresh_keys_never_resets_a_limited_one() -> None:
    rl, clock = limiter(max_keys=100)
    assert [rl.check("me", 4, 300) for _ in range(5)] == [None] * 4 + [75]
    for ip in range(10_000):
        rl.check(("keyless", ip), 4, 300)
        assert len(rl._buckets) <= 101
    assert rl.check("me", 4, 300) == 75
    clock.now += 75
    assert rl.check("me", 4, 300) is None
    assert rl.check("me", 4, 300) == 75


def test_the_least_recently_used_bucket_makes_room() -> None:
    rl, _ = limiter(max_keys=3)
    for key in ("a", "b", "c"):
        assert rl.check(key, 2, 60) is None
    rl.check("a", 2, 60)  # now limited, and most recently used
    rl.check("b", 2, 60)  # b is used again: c is the least recently used
    rl.check("d", 2, 60)
    assert set(rl._buckets) == {"a", "b", "d"}
    assert rl.check("a", 2, 60) == 30 and rl.check("b", 2, 60) == 30


def test_when_every_bucket_is_limiting_fresh_keys_share_one() -> None:
    rl, clock = limiter(max_keys=10)
    for key in range(10):
        assert [rl.check(key, 1, 60) for _ in range(2)] == [None, 60]
    assert rl.check("fresh-1", 1, 60) is None  # the shared bucket's one request
    assert rl.check("fresh-2", 1, 60) == 60
    assert len(rl._buckets) == 11 and all(rl.check(k, 1, 60) == 60 for k in range(10))
    clock.now += 60  # the limits have passed: their buckets make room again
    assert rl.check("fresh-3", 1, 60) is None
    assert "fresh-3" in rl._buckets and len(rl._buckets) <= 11


def test_a_changed_limit_applies_to_an_existing_bucket() -> None:
    """A bucket keeps the time it will be full again; the new limit sets what it holds now."""
    rl, clock = limiter()
    assert [rl.check("k", 2, 60) for _ in range(3)] == [None, None, 30]  # full again in 60 s
    assert rl.check("k", 4, 60) == 15  # empty under the new limit too: one refills in 15 s
    clock.now += 30
    assert [rl.check("k", 4, 60) for _ in range(3)] == [None, None, 15]
