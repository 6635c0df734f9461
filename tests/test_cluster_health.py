"""The health rules of every node, as pure functions of what the feed or the relay reports."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tryvoha.bus.feed import FeedHealth
from tryvoha.bus.relay import RelayStatus
from tryvoha.cluster.health import edge_health, writer_health

NOW = 1_800_000_000.0
CURRENT = FeedHealth(
    connected=True,
    stale_since=None,
    stale_periods=1,
    last_applied_id=100,
    stream_last_seq=100,
    lag_events=0,
    lag_seconds=0.0,
    epoch="e",
    resets=0,
    resync_needed=None,
)


@pytest.mark.parametrize(
    ("feed", "caught_up", "reason"),
    [
        (CURRENT, True, None),
        (replace(CURRENT, lag_events=3, lag_seconds=4.9), True, None),  # within --max-lag
        (replace(CURRENT, lag_events=3, lag_seconds=5.1), True, "3 events behind for 5.1 s"),
        (replace(CURRENT, lag_events=900, lag_seconds=0.2), False, "catching up since start"),
        (replace(CURRENT, connected=False, stale_since=NOW - 2), True, "not connected to NATS"),
        (replace(CURRENT, stale_since=NOW - 2), True, "no word from the stream"),
        (replace(CURRENT, resync_needed="stream went back"), True, "cannot continue"),
    ],
)
def test_an_edge_is_stale_exactly_when_its_answers_may_be_old(
    feed: FeedHealth, caught_up: bool, reason: str | None
) -> None:
    doc = edge_health(feed, 5.0, caught_up=caught_up, now=NOW)
    assert doc["stale"] is (reason is not None)
    if reason is None:
        assert doc["reason"] is None and doc["stale_since"] is None
    else:
        assert reason in doc["reason"] and doc["stale_since"] is not None
    assert (doc["role"], doc["last_applied_id"], doc["lag_events"]) == (
        "edge",
        100,
        feed.lag_events,
    )


def test_the_writer_is_never_stale_and_reports_its_relays_lag_from_the_log() -> None:
    relay = RelayStatus(
        connected=False,
        position=40,
        saved_position=40,
        log_last_id=0,  # the relay has not read the log yet
        lag_events=0,
        published=40,
        republished=0,
        last_error="unreachable: not connected to NATS",
        last_error_at=NOW,
    )
    doc = writer_health("writer", 100, relay)
    assert (doc["stale"], doc["stream_last_seq"]) == (False, 40)
    assert doc["nats"]["relay_lag_events"] == 60 and not doc["nats"]["connected"]
    assert writer_health("writer", 100, None)["nats"] is None
