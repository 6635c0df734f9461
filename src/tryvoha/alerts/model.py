"""The words of the alert domain: threats, statuses, events and alerts.

Plain frozen dataclasses and enums, no I/O: every other layer speaks in these types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Threat(StrEnum):
    """What the alert warns of."""

    AIR_RAID = "air_raid"
    ARTILLERY_SHELLING = "artillery_shelling"
    URBAN_FIGHTS = "urban_fights"
    CHEMICAL = "chemical"
    NUCLEAR = "nuclear"


class Detail(StrEnum):
    """What kind of air threat; only meaningful for `Threat.AIR_RAID`."""

    DRONES = "drones"
    CRUISE_MISSILE = "cruise_missile"
    BALLISTIC_MISSILE = "ballistic_missile"
    GUIDED_BOMBS = "guided_bombs"
    AVIATION = "aviation"


class AlertStatus(StrEnum):
    """Whether an alert is real. Exercise and test alerts never change the public real status."""

    ACTUAL = "actual"
    EXERCISE = "exercise"
    TEST = "test"


class EventKind(StrEnum):
    DECLARED = "declared"
    UPDATED = "updated"
    ENDED = "ended"


class RegionStatus(StrEnum):
    """`active`: the region or an ancestor has an open alert; `partial`: only a descendant has."""

    ACTIVE = "active"
    PARTIAL = "partial"
    NONE = "none"


LIVE_SOURCE = "live"
"""Source of events declared through the operator API or CLI; anything else is history."""


@dataclass(frozen=True, slots=True)
class Event:
    """One committed change to one alert; `id` is its place in the log (1, 2, 3, … no gaps).

    `alert_id` is the log id of the event that declared the alert, so an alert's id never changes.
    `occurred_at` is the time the operator gave, `recorded_at` the time the hub committed it.
    `details` and `notes` hold the alert's values after this event.
    """

    id: int
    kind: EventKind
    alert_id: int
    region_id: str
    threat: Threat
    status: AlertStatus
    occurred_at: datetime
    recorded_at: datetime
    originator: str
    details: tuple[Detail, ...] = ()
    notes: str | None = None
    source: str = LIVE_SOURCE
    idempotency_key: str | None = None

    @property
    def is_live(self) -> bool:
        """Imported or replayed history is never announced as happening now."""
        return self.source == LIVE_SOURCE


@dataclass(frozen=True, slots=True)
class Alert:
    """One region, one threat, from a start to an end (`ended_at is None` while open)."""

    id: int
    region_id: str
    threat: Threat
    status: AlertStatus
    started_at: datetime
    originator: str
    details: tuple[Detail, ...] = ()
    notes: str | None = None
    ended_at: datetime | None = None
    updated_at: datetime | None = None
    source: str = LIVE_SOURCE
    last_event_id: int = 0
    ended_by: str | None = field(default=None)

    @property
    def is_open(self) -> bool:
        return self.ended_at is None
