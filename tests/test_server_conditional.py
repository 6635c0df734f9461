"""Conditional-GET rules and the two `Last-Modified` policies, against a real hub's log head."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tryvoha.hub import Hub
from tryvoha.regions import Catalogue
from tryvoha.server.conditional import (
    ExactMatch,
    HeadSecond,
    conditional_answer,
    etag_matches,
    http_date,
    is_not_modified,
    parse_http_date,
)
from tryvoha.store import SqlStore

HEAD = datetime(2025, 3, 1, 12, 0, 30, 250_000, tzinfo=UTC)
ABSURD = [
    b"Mon, 01 Jan 0000 00:00:00 GMT",
    b"Mon, 01 Jan 99999 00:00:00 GMT",
    b"Fri, 31 Dec 9999 23:59:59 -2359",
    b"Mon, 01 Jan 2024 00:00:00 +9999",
    b"Mon, 01 Jan 2024 99:99:99 GMT",
    b"garbage",
    b"\xff\xfe\x00",
    b"Mon, 01 Jan " + b"9" * 5000 + b" 00:00:00 GMT",
    b"9" * 100_000,
]


@pytest.fixture
def hub_at_head(catalogue: Catalogue, sqlite_url: str):
    """A real hub whose clock stands at HEAD: with an empty log, the head is its start."""
    hub = Hub(catalogue, SqlStore(sqlite_url), clock=lambda: HEAD)
    hub.load()
    yield hub
    hub.close()


def test_etag_matching() -> None:
    etag = b'"abc"'
    assert etag_matches(b'"abc"', etag) and etag_matches(b'W/"abc"', etag)
    assert etag_matches(b'"x", W/"abc" ', etag) and etag_matches(b"*", etag)
    assert etag_matches(b'"abc"', b'W/"abc"')
    assert not etag_matches(b'"abcd"', etag) and not etag_matches(b"", etag)


def test_if_none_match_wins_and_empty_values_count_as_absent(hub_at_head: Hub) -> None:
    policy = ExactMatch(lambda: b"Sat, 01 Mar 2025 12:00:30 GMT")
    current = b"Sat, 01 Mar 2025 12:00:30 GMT"
    assert is_not_modified(policy, b'"e"', None, current)
    assert not is_not_modified(policy, b'"e"', b'"other"', current), "If-None-Match wins"
    assert is_not_modified(policy, b'"e"', b"  ", current), "an empty If-None-Match is absent"
    assert not is_not_modified(policy, b'"e"', None, b"")
    assert not is_not_modified(policy, b'"e"', None, None)


def test_head_second_policy(hub_at_head: Hub) -> None:
    in_head_second = HEAD.timestamp()
    policy = HeadSecond(hub_at_head, wall=lambda: in_head_second)
    second = HEAD.replace(microsecond=0)
    assert policy.head_second() == second
    earlier = http_date(second - timedelta(seconds=1)).encode()
    assert policy.last_modified() == earlier, "a later event may still share the head's second"
    policy.wall = lambda: in_head_second + 5
    assert policy.last_modified() == http_date(second).encode()
    assert policy.unchanged_since(http_date(second).encode())
    assert policy.unchanged_since(http_date(second + timedelta(days=1)).encode())
    assert not policy.unchanged_since(earlier)
    for value in ABSURD:
        assert not policy.unchanged_since(value), value[:40]
        assert parse_http_date(value) is None, value[:40]


def test_exact_match_policy() -> None:
    value = b"Sat, 01 Mar 2025 12:00:31 GMT"
    policy = ExactMatch(lambda: value)
    assert policy.last_modified() == value and policy.unchanged_since(value)
    assert not policy.unchanged_since(b"Sat, 01 Mar 2025 12:00:32 GMT"), "later is not equal"
    for absurd in ABSURD:
        assert not policy.unchanged_since(absurd)


def test_conditional_answer_200_304_and_head(hub_at_head: Hub) -> None:
    policy = HeadSecond(hub_at_head, wall=lambda: HEAD.timestamp() + 5)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"2"), (b"x", b"1")]
    status, sent, body = conditional_answer(headers, b"{}", b'"e"', policy, None, None)
    assert status == 200 and body == b"{}"
    assert dict(sent)[b"etag"] == b'"e"' and dict(sent)[b"cache-control"] == b"no-cache"
    assert dict(sent)[b"last-modified"] == policy.last_modified()
    status, sent, body = conditional_answer(headers, b"{}", b'"e"', policy, b'"e"', None)
    assert status == 304 and body == b""
    assert b"content-type" not in dict(sent) and b"content-length" not in dict(sent)
    assert dict(sent)[b"x"] == b"1" and dict(sent)[b"etag"] == b'"e"'
    status, sent, body = conditional_answer(headers, b"{}", b'"e"', policy, None, None, True)
    assert status == 200 and body == b"" and dict(sent)[b"content-length"] == b"2"
    for absurd in ABSURD:
        assert conditional_answer(headers, b"{}", b'"e"', policy, None, absurd)[0] == 200
