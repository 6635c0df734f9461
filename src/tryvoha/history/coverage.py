"""What the log's alert record covers, so no figure passes off "no data" as "no alerts".

A hub's log holds two kinds of record: imported data sets (source `import:…`, such as the bundled
official record of 2022-03-15 … 2023-12-31) and what the hub itself recorded live, from its first
live event on. A period that reaches outside both holds no data there: statistics over it count
no alerts in that part, and every place that shows figures says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from tryvoha.history.kyiv import KYIV
from tryvoha.store import SqlStore
from tryvoha.store.timeutil import from_us

IMPORTED = "import:%"
SMALLEST_GAP = timedelta(minutes=1)
"""Shorter stretches outside the record are not worth a warning (the record's own edges)."""


@dataclass(frozen=True, slots=True)
class Coverage:
    """The days (UTC, as the data sets are cut) on which the imported record's alerts start
    (`first` … `last`, both whole days) and the time of the hub's first live event; None where
    there is none."""

    first: date | None
    last: date | None
    live_since: datetime | None

    @classmethod
    def of(cls, store: SqlStore) -> Coverage:
        """Two aggregates over the events table (one pass each). What a data set covers is the
        days its alerts start on (an alert that starts on its last day may end the next); the
        permanent alerts an import adds are not rows of the data set."""
        from tryvoha.history.importer import PERMANENT_ALERTS
        from tryvoha.history.sources import row_key

        permanent = [row_key(a.region_id, a.started_at, None) for a in PERMANENT_ALERTS]
        lo, hi, first_live = store.record_bounds(IMPORTED, permanent)
        return cls(
            first=None if lo is None else from_us(lo).date(),
            last=None if hi is None else from_us(hi).date(),
            live_since=None if first_live is None else from_us(first_live),
        )

    def spans(self, now: datetime) -> list[tuple[datetime, datetime]]:
        """The stretches of time the log has a record of, in order."""
        out = []
        if self.first is not None and self.last is not None:
            out.append((_midnight(self.first), _midnight(self.last + timedelta(days=1))))
        if self.live_since is not None and self.live_since < now:
            out.append((self.live_since, now))
        out.sort()
        merged: list[tuple[datetime, datetime]] = []
        for start, end in out:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged

    def missing(
        self, since: datetime, until: datetime, now: datetime
    ) -> list[tuple[datetime, datetime]]:
        """The parts of [since, until) the log has no record of (a minute or longer)."""
        gaps = []
        at = since
        for start, end in self.spans(now):
            if start > at:
                gaps.append((at, min(start, until)))
            at = max(at, end)
            if at >= until:
                break
        if at < until:
            gaps.append((at, until))
        return [(a, b) for a, b in gaps if b - a >= SMALLEST_GAP]

    def describe(self) -> str:
        """One line: "the imported record covers 2022-03-15 – 2023-12-31; live since …"."""
        parts = []
        if self.first is not None:
            parts.append(f"the imported record covers {self.first} – {self.last} (UTC days)")
        else:
            parts.append("no imported record")
        if self.live_since is not None:
            parts.append(f"recorded live since {self.live_since:%Y-%m-%d %H:%M} UTC")
        else:
            parts.append("nothing recorded live yet")
        return "; ".join(parts)

    def warning(self, since: datetime, until: datetime, now: datetime) -> str | None:
        """A sentence when the period reaches outside the record, else None."""
        gaps = self.missing(since, until, now)
        if not gaps:
            return None
        said = ", ".join(f"{_day(a)} – {_day(b)}" for a, b in gaps[:3])
        more = f" and {len(gaps) - 3} more" if len(gaps) > 3 else ""
        return (
            f"the period reaches past the record: {self.describe()}; it holds no data for "
            f"{said}{more} (Kyiv time), so figures there count no alerts (newer files: "
            "docs/history.md)"
        )

    def doc(self, since: datetime, until: datetime, now: datetime) -> dict[str, object]:
        """The `coverage` object of every statistics answer."""
        gaps = self.missing(since, until, now)
        return {
            "record_first_day": None if self.first is None else self.first.isoformat(),
            "record_last_day": None if self.last is None else self.last.isoformat(),
            "live_since": None if self.live_since is None else _iso(self.live_since),
            "complete": not gaps,
            "missing": [{"from": _iso(a), "to": _iso(b)} for a, b in gaps],
            "warning": self.warning(since, until, now),
        }


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _day(moment: datetime) -> str:
    return f"{moment.astimezone(KYIV):%Y-%m-%d %H:%M}"


def _iso(moment: datetime) -> str:
    from tryvoha.alerts.wire import iso

    return iso(moment.astimezone(UTC)) or ""
