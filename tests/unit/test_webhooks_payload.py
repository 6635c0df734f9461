"""channels/webhooks/payload.py: the body of a delivery, rendered once for every retry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from tryvoha.alerts.model import AlertStatus, Detail, Event, EventKind, Threat
from tryvoha.alerts.state import declared_alert
from tryvoha.channels.webhooks.payload import render

START = datetime(2026, 3, 1, 21, 15, 30, 123456, tzinfo=UTC)
REGION = "UA63000000000041885"


def event(
    event_id: int, kind: EventKind, at: datetime, details=(), notes=None, originator="kharkiv"
) -> Event:
    return Event(
        event_id, kind, 1, REGION, Threat.AIR_RAID, AlertStatus.ACTUAL, at,
        at + timedelta(milliseconds=2), originator, tuple(details), notes,
    )  # fmt: skip


DECLARED = event(1, EventKind.DECLARED, START, [Detail.BALLISTIC_MISSILE], "ракети")


def test_a_declaration_is_the_event_and_the_new_alert() -> None:
    doc = orjson.loads(render(DECLARED, declared_alert(DECLARED)))
    assert doc["event"] == {
        "id": 1,
        "kind": "declared",
        "alert_id": 1,
        "region_id": REGION,
        "threat": "air_raid",
        "details": ["ballistic_missile"],
        "status": "actual",
        "notes": "ракети",
        "occurred_at": "2026-03-01T21:15:30.123Z",
        "recorded_at": "2026-03-01T21:15:30.125Z",
        "originator": "kharkiv",
        "source": "live",
    }
    assert doc["alert"] == {
        "id": 1,
        "region_id": REGION,
        "threat": "air_raid",
        "details": ["ballistic_missile"],
        "status": "actual",
        "notes": "ракети",
        "started_at": "2026-03-01T21:15:30.123Z",
        "ended_at": None,
        "updated_at": None,
        "originator": "kharkiv",
        "ended_by": None,
        "source": "live",
        "last_event_id": 1,
        "retracted": False,
        "proposed_by": None,
    }


def test_later_events_show_the_alert_as_that_event_left_it() -> None:
    base = declared_alert(DECLARED)
    updated = event(2, EventKind.UPDATED, START + timedelta(minutes=3), [Detail.DRONES], None)
    ended = event(3, EventKind.ENDED, START + timedelta(minutes=40), [Detail.DRONES], None, "obl")
    after_update = orjson.loads(render(updated, base))["alert"]
    assert after_update["details"] == ["drones"] and after_update["notes"] is None
    assert after_update["updated_at"] == "2026-03-01T21:18:30.123Z"
    assert after_update["ended_at"] is None and after_update["last_event_id"] == 2
    assert after_update["started_at"] == "2026-03-01T21:15:30.123Z"
    assert after_update["originator"] == "kharkiv"  # the alert's, not the update's
    after_end = orjson.loads(render(ended, base))["alert"]
    assert after_end["ended_at"] == after_end["updated_at"] == "2026-03-01T21:55:30.123Z"
    assert after_end["ended_by"] == "obl" and after_end["last_event_id"] == 3


def test_every_retry_sends_the_very_same_bytes() -> None:
    body = render(DECLARED, declared_alert(DECLARED))
    assert render(DECLARED, declared_alert(DECLARED)) == body
    assert body.startswith(b'{"event":{"id":1,') and b"\n" not in body
    assert "ракети".encode() in body  # UTF-8, not \u escapes
