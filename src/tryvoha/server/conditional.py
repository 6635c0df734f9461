"""Conditional GETs, written once: the ETag of a body, and 200 or 304 under a validator policy.

Every view of the hub is a function of the log, so its validators change exactly when the log
moves on. The rules (RFC 9110 §13.2.2) are the same everywhere: `If-None-Match` wins, and
`If-Modified-Since` counts only when no `If-None-Match` is sent; an empty value counts as absent.
What differs per surface is only what `Last-Modified` says and when an `If-Modified-Since`
shows the client's copy is current. Those are the two policies:

- `HeadSecond` (tryvoha's own API and ukrainealarm): `Last-Modified` is the log head's second,
  one second earlier while the head is in the current second; a date at or after the head second
  is current.
- `ExactMatch` (alerts.in.ua): `Last-Modified` moves forward by at least a second with every
  change (`tryvoha.compat.clock`), and only the exact value the client echoes is current.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import TYPE_CHECKING, Protocol

from tryvoha.server.answers import Answer, Header

if TYPE_CHECKING:
    from tryvoha.readmodel import ReadModel

NO_CACHE = b"no-cache"
MAX_DATE_LENGTH = 64
"""An `If-Modified-Since` longer than any HTTP date is not one, and is ignored unparsed."""
_CONTENT = (b"content-type", b"content-length", b"content-encoding")
MONTHS = b"Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(b" ")
IMF_FIXDATE = re.compile(
    rb"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d\d) (" + b"|".join(MONTHS) + rb") (\d{4}) "
    rb"(\d\d):(\d\d):(\d\d) GMT"
)


VALIDATOR_HEADERS = {
    "ETag": {"schema": {"type": "string"}, "description": "Changes exactly when the body does."},
    "Last-Modified": {"schema": {"type": "string"}, "description": "The log head's time."},
    "Cache-Control": {"schema": {"type": "string"}, "description": "`no-cache`: revalidate."},
}
"""How the OpenAPI document describes the headers every complete GET answer carries."""


class Validators(Protocol):
    """A `Last-Modified` policy: what to send, and whether a client's date is still current."""

    def last_modified(self) -> bytes: ...

    def unchanged_since(self, if_modified_since: bytes) -> bool: ...


def etag_of(body: bytes) -> bytes:
    """The strong ETag of a body: a 96-bit BLAKE2b digest, quoted."""
    return b'"' + hashlib.blake2b(body, digest_size=12).hexdigest().encode() + b'"'


def http_date(value: datetime) -> str:
    return format_datetime(value.astimezone(UTC), usegmt=True)


def parse_http_date(value: bytes) -> datetime | None:
    """An HTTP date in UTC, or None for anything that is not a usable one (never raises).

    The usual form (IMF-fixdate) is read strictly, so a year such as `0000` is not taken for
    2000; the two obsolete forms RFC 9110 also asks for go through `email.utils`."""
    if len(value) > MAX_DATE_LENGTH:
        return None
    fixed = IMF_FIXDATE.fullmatch(value)
    try:
        if fixed is not None:
            day, month, year, hour, minute, second = fixed.groups()
            return datetime(
                int(year),
                MONTHS.index(month) + 1,
                int(day),
                int(hour),
                int(minute),
                int(second),
                tzinfo=UTC,
            )
        parsed = parsedate_to_datetime(value.decode("latin-1"))
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None


def etag_matches(if_none_match: bytes, etag: bytes) -> bool:
    """Weak comparison, as RFC 9110 asks for `If-None-Match`; `*` matches any current body."""
    if if_none_match.strip() == b"*":
        return True
    bare = etag.removeprefix(b"W/")
    return any(t.strip().removeprefix(b"W/") == bare for t in if_none_match.split(b","))


def is_not_modified(
    validators: Validators,
    etag: bytes,
    if_none_match: bytes | None,
    if_modified_since: bytes | None,
) -> bool:
    if if_none_match is not None and if_none_match.strip():
        return etag_matches(if_none_match, etag)
    if if_modified_since is None:
        return False
    value = if_modified_since.strip()
    return bool(value) and validators.unchanged_since(value)


def conditional_answer(
    headers: Sequence[Header],
    body: bytes,
    etag: bytes,
    validators: Validators,
    if_none_match: bytes | None,
    if_modified_since: bytes | None,
    head_only: bool = False,
    cache_control: bytes = NO_CACHE,
) -> Answer:
    """A 200 answer with `headers` (its own content headers and any others) and the validators,
    or the 304 that stands for it (the same headers without the content ones, no body)."""
    common = (
        (b"etag", etag),
        (b"last-modified", validators.last_modified()),
        (b"cache-control", cache_control),
    )
    if is_not_modified(validators, etag, if_none_match, if_modified_since):
        kept = [(k, v) for k, v in headers if k.lower() not in _CONTENT]
        return 304, [*kept, *common], b""
    return 200, [*headers, *common], b"" if head_only else body


class HeadSecond:
    """tryvoha's policy: validators from the time of the log head, in whole seconds."""

    def __init__(self, hub: ReadModel, wall: Callable[[], float] = time.time) -> None:
        self.hub = hub
        self.wall = wall
        self._memo: tuple[datetime, int, bytes] | None = None

    def head_second(self) -> datetime:
        """The time of the log head in whole seconds: what `If-Modified-Since` is compared with."""
        hub = self.hub
        return (hub.last_recorded_at or hub.started_at).replace(microsecond=0)

    def last_modified_at(self, now: float | None = None) -> datetime:
        """While the head is in the current second a later event could share that second, so the
        value sent is one second earlier: a client polling with it gets a fresh answer, never a
        stale 304."""
        second = self.head_second()
        now = self.wall() if now is None else now
        if int(now) <= second.timestamp():
            second -= timedelta(seconds=1)
        return second

    def last_modified(self) -> bytes:
        """The header value, formatted once per log head and wall-clock second."""
        hub = self.hub
        head = hub.last_recorded_at or hub.started_at
        now = int(self.wall())
        memo = self._memo
        if memo is None or memo[0] != head or memo[1] != now:
            memo = self._memo = (head, now, http_date(self.last_modified_at(now)).encode())
        return memo[2]

    def unchanged_since(self, if_modified_since: bytes) -> bool:
        since = parse_http_date(if_modified_since)
        return since is not None and self.head_second() <= since


class ExactMatch:
    """alerts.in.ua's policy: the current `Last-Modified` bytes, and only those, are current."""

    def __init__(self, current: Callable[[], bytes]) -> None:
        self.current = current

    def last_modified(self) -> bytes:
        return self.current()

    def unchanged_since(self, if_modified_since: bytes) -> bool:
        return if_modified_since == self.current()
