"""The conditional-GET rules: when an answer is 304, and what `Last-Modified` says.

Two policies: the hub's own API follows RFC 9110 (If-None-Match wins, weak comparison, `*`,
If-Modified-Since by date, never a stale 304 within the head's second); the alerts.in.ua surface
answers 304 only on an exact echo of its validators, with a `Last-Modified` that moves on with
every log id (and survives a restart).

The rules are reached through the adapter below, so that when they move, only it changes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tryvoha.alerts.model import AlertStatus, Event, EventKind, Threat
from tryvoha.compat import clock as compat_clock
from tryvoha.hub import Hub
from tryvoha.regions import Catalogue
from tryvoha.server import conditional
from tryvoha.store import SqlStore


# The adapter: the rules as the modules spell them today; when they move, re-point these lines.
def etag_of(body: bytes) -> str:
    return conditional.etag_of(body).decode()


def head_second(hub: Hub) -> datetime:
    """The log head's time in whole seconds."""
    return conditional.HeadSecond(hub).head_second()


def last_modified(hub: Hub, now: datetime) -> datetime:
    """The `Last-Modified` sent at wall-clock time `now`."""
    return conditional.HeadSecond(hub).last_modified_at(now.timestamp())


ModifiedClock = compat_clock.ModifiedClock  # alerts.in.ua `Last-Modified`, per log id


class _HeadAt:
    """tryvoha's policy with the log head's second fixed at `modified`."""

    def __init__(self, modified: datetime) -> None:
        self.modified = modified

    def last_modified(self) -> bytes:
        return conditional.http_date(self.modified).encode()

    def unchanged_since(self, if_modified_since: bytes) -> bool:
        since = conditional.parse_http_date(if_modified_since)
        return since is not None and self.modified <= since


def rfc_304(etag: str, modified: datetime, inm: str | None = None, ims: str | None = None) -> bool:
    """The hub API's rule: is a GET with these request validators answered 304?"""
    return conditional.is_not_modified(
        _HeadAt(modified),
        etag.encode("latin-1"),
        None if inm is None else inm.encode("latin-1"),
        None if ims is None else ims.encode("latin-1"),
    )


def exact_304(
    etag: str | None, last_modified_header: str, inm: str | None = None, ims: str | None = None
) -> bool:
    """The alerts.in.ua surface's rule."""
    current = last_modified_header.encode("latin-1")
    return conditional.is_not_modified(
        conditional.ExactMatch(lambda: current),
        b"" if etag is None else etag.encode("latin-1"),
        None if inm is None else inm.encode("latin-1"),
        None if ims is None else ims.encode("latin-1"),
    )


def record(hub: Hub, at: datetime) -> None:
    """The log moves on: one more event, committed at `at`."""
    n = hub.state.last_event_id + 1
    event = Event(n, EventKind.DECLARED, n, "UA", Threat.AIR_RAID, AlertStatus.ACTUAL, at, at, "t")
    hub.state.apply(event)


# ------------------------------------------------------------------------------------------------

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def http_date(value: datetime) -> str:
    return format_datetime(value.astimezone(UTC), usegmt=True)


# RFC 9110 ---------------------------------------------------------------------------------------

ETAG = etag_of(b'{"log_id":7}')


def test_etags_are_quoted_and_follow_the_body() -> None:
    assert ETAG.startswith('"') and ETAG.endswith('"') and len(ETAG) > 2
    assert etag_of(b'{"log_id":7}') == ETAG != etag_of(b'{"log_id":8}')


def test_no_validators_no_304() -> None:
    assert not rfc_304(ETAG, T0)


@pytest.mark.parametrize(
    "inm",
    [
        ETAG,
        f"W/{ETAG}",  # If-None-Match compares weakly
        f'"other", {ETAG}',
        f' "a",W/{ETAG} , "b"',
        "*",
        " * ",
    ],
)
def test_if_none_match_that_matches(inm: str) -> None:
    assert rfc_304(ETAG, T0, inm=inm)
    assert rfc_304(f"W/{ETAG}", T0, inm=inm)


@pytest.mark.parametrize("inm", ['"other"', '"other", W/"else"', ETAG[:-2] + '"', ""])
def test_if_none_match_that_does_not(inm: str) -> None:
    assert not rfc_304(ETAG, T0, inm=inm)


def test_if_none_match_wins_over_if_modified_since() -> None:
    later = http_date(T0 + timedelta(days=1))
    assert not rfc_304(ETAG, T0, inm='"other"', ims=later)  # the date alone would say 304
    assert rfc_304(ETAG, T0, inm=ETAG, ims=http_date(T0 - timedelta(days=1)))


@pytest.mark.parametrize(
    ("ims", "expected"),
    [
        ("Sun, 01 Mar 2026 12:00:00 GMT", True),  # equal
        ("Sun, 01 Mar 2026 12:00:01 GMT", True),  # later
        ("Sun, 01 Mar 2026 11:59:59 GMT", False),  # earlier: modified since
        ("Sunday, 01-Mar-26 12:00:00 GMT", True),  # RFC 850, which recipients must accept
        ("Sun Mar  1 12:00:00 2026", True),  # asctime, which recipients must accept
        ("Sun Mar  1 11:59:59 2026", False),
        ("yesterday", False),  # not a date: ignored
        ("", False),
    ],
)
def test_if_modified_since(ims: str, expected: bool) -> None:
    assert rfc_304(ETAG, T0, ims=ims) is expected


def test_last_modified_steps_back_while_the_head_second_is_current(hub: Hub) -> None:
    head = T0 + timedelta(microseconds=250_000)
    record(hub, head)
    assert head_second(hub) == T0
    assert last_modified(hub, head) == T0 - timedelta(seconds=1)
    assert last_modified(hub, T0 + timedelta(microseconds=999_999)) == T0 - timedelta(seconds=1)
    assert last_modified(hub, T0 + timedelta(seconds=1)) == T0
    assert last_modified(hub, T0 - timedelta(seconds=5)) == T0 - timedelta(seconds=1)  # skew


def test_a_fresh_hub_is_modified_at_its_start(hub: Hub) -> None:
    assert hub.state.last_recorded_at is None
    assert head_second(hub) == hub.started_at.replace(microsecond=0)


moments = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
)
gaps = st.timedeltas(min_value=timedelta(0), max_value=timedelta(seconds=3))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=300)
@given(head=moments, answered_after=gaps, next_after=gaps)
def test_a_client_echoing_last_modified_never_gets_a_stale_304(
    hub: Hub, head: datetime, answered_after: timedelta, next_after: timedelta
) -> None:
    """Answered some time after the head, the client polls with If-Modified-Since set to the
    `Last-Modified` it got: 304 only when nothing was committed since, and then only once the
    head's second is over (a later event could still have shared it)."""
    record(hub, head)
    answered = head + answered_after
    sent = http_date(last_modified(hub, answered))
    unchanged = rfc_304(ETAG, head_second(hub), ims=sent)
    assert unchanged == (answered.replace(microsecond=0) > head.replace(microsecond=0))
    if next_after > timedelta(0):  # an event committed after the answer, maybe in its second
        record(hub, answered + next_after)
        assert not rfc_304(ETAG, head_second(hub), ims=sent)


# The alerts.in.ua exact-match policy ------------------------------------------------------------

LM = "Sun, 01 Mar 2026 12:00:00 GMT"


@pytest.mark.parametrize(
    ("inm", "ims", "expected"),
    [
        (None, None, False),
        (None, LM, True),
        (None, f"  {LM} ", True),
        (None, "Sun, 01 Mar 2026 12:00:01 GMT", False),  # a later date is not an echo
        (None, "Sunday, 01-Mar-26 12:00:00 GMT", False),  # the same instant, other spelling
        (ETAG, None, True),
        (f"W/{ETAG}", None, True),
        (f'"x", {ETAG}', None, True),
        ('"x"', LM, False),  # If-None-Match present: the date is not looked at
        ("", LM, True),  # an empty If-None-Match is absent
        ("  ", LM, True),
        ("", None, False),
    ],
)
def test_exact_match(inm: str | None, ims: str | None, expected: bool) -> None:
    assert exact_304(ETAG, LM, inm=inm, ims=ims) is expected


def test_exact_match_without_an_etag_needs_the_date() -> None:
    assert not exact_304(None, LM, inm=ETAG)
    assert exact_304(None, LM, ims=LM)


def test_the_surface_clock_moves_on_with_every_log_id(hub: Hub) -> None:
    clock = ModifiedClock(hub, hub)
    start, start_text = clock.current()
    assert start == hub.started_at.replace(microsecond=0)
    assert clock.current() == (start, start_text)  # the same log id, the same value
    seen = [start]
    for k in range(3):  # three changes within one second: three distinct values
        record(hub, start + timedelta(microseconds=100 + k))
        value, text = clock.current()
        assert text == http_date(value).encode()
        seen.append(value)
    assert seen == [start + timedelta(seconds=k) for k in range(4)]
    record(hub, start + timedelta(hours=1, microseconds=5))
    assert clock.current()[0] == start + timedelta(hours=1)  # back to the head's own second
    assert clock.meta_time() == (start + timedelta(hours=1)).strftime("%Y/%m/%d %H:%M:%S +0000")


def test_the_surface_clock_never_repeats_a_value_after_a_restart(
    catalogue: Catalogue, sqlite_url: str
) -> None:
    first = Hub(catalogue, SqlStore(sqlite_url))
    record(first, T0)
    record(first, T0 + timedelta(microseconds=1))
    clock = ModifiedClock(first, first)
    given_out = clock.current()[0]
    first.close()
    again = Hub(catalogue, SqlStore(sqlite_url))
    try:
        record(again, T0)
        record(again, T0 + timedelta(microseconds=1))
        record(again, T0 + timedelta(microseconds=2))  # a new log id, the same second
        assert ModifiedClock(again, again).current()[0] > given_out
    finally:
        again.close()
