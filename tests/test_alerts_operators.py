"""The pure domain of the dispatcher's safeguards: retraction and multi-region declarations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tryvoha.alerts.commands import (
    Actor,
    AlertRef,
    Declare,
    DeclareMany,
    End,
    EventDraft,
    Rejected,
    Retract,
    assign,
    decide,
)
from tryvoha.alerts.model import AlertStatus, Detail, Event, EventKind, RegionStatus, Threat
from tryvoha.alerts.state import AlertState, alert_after
from tryvoha.alerts.status import threat_status
from tryvoha.regions import Catalogue

START = datetime(2026, 3, 9, 1, 15, tzinfo=UTC)  # 03:15 in Kyiv
ANNA = Actor("token:anna")
BORYS = Actor("token:borys")


class Log:
    """A state and the log it was folded from: commands decided and appended as the hub does."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.state = AlertState()
        self.events: list[Event] = []

    def run(self, actor: Actor, command: object, now: datetime = START) -> list[Event]:
        drafts = decide(self.state, self.catalogue, actor, command, now)  # type: ignore[arg-type]
        return self.append(drafts, now)

    def append(self, drafts: tuple[EventDraft, ...], now: datetime) -> list[Event]:
        events = assign(drafts, len(self.events) + 1, now)
        for event in events:
            self.state.apply(event)
        self.events.extend(events)
        return events

    def refused(self, actor: Actor, command: object, now: datetime = START) -> Rejected:
        before = self.state.canonical()
        with pytest.raises(Rejected) as info:
            decide(self.state, self.catalogue, actor, command, now)  # type: ignore[arg-type]
        assert self.state.canonical() == before
        assert info.value.message and 400 <= info.value.http_status < 500
        return info.value


# Retraction ---------------------------------------------------------------------------------


def test_retraction_closes_the_alert_like_an_end_and_says_why(catalogue: Catalogue) -> None:
    log = Log(catalogue)
    oblast = catalogue.resolve("Kyivska oblast")
    raion = catalogue.children(oblast.id)[0]
    (declared,) = log.run(ANNA, Declare(raion.id, Threat.AIR_RAID, details=(Detail.DRONES,)))
    (event,) = log.run(
        ANNA, Retract(AlertRef(alert_id=declared.id), "не той район"), START + timedelta(minutes=2)
    )
    assert event.kind is EventKind.RETRACTED and event.alert_id == declared.id
    assert event.reason == "не той район" and event.details == (Detail.DRONES,)
    assert event.is_public and event.is_broadcast
    assert log.state.open_alerts == {}
    status = threat_status(catalogue, log.state.open_alerts.values(), Threat.AIR_RAID)
    assert status.of(raion.id) is RegionStatus.NONE and status.of(oblast.id) is RegionStatus.NONE
    uk, en = event.correction.split("\n")  # type: ignore[union-attr]
    assert uk.startswith("Скасовано: Повітряна тривога — ") and "оголошено о 03:15 09.03.2026" in uk
    assert raion.label("uk") in uk and oblast.label("uk") in uk and "помилково" in uk
    assert en.startswith("Withdrawn: Air raid alert — ") and "declared at 03:15 on 09.03.2026" in en
    assert raion.label("en") in en and "(Kyiv time)" in en and "in error" in en


def test_retracted_alert_is_marked_and_the_key_is_free_again(catalogue: Catalogue) -> None:
    log = Log(catalogue)
    oblast = catalogue.oblasts[4].id
    (declared,) = log.run(ANNA, Declare(oblast, Threat.ARTILLERY_SHELLING))
    open_alert = log.state.open_alerts[declared.id]
    ref = AlertRef(region_id=oblast, threat=Threat.ARTILLERY_SHELLING)
    (event,) = log.run(BORYS, Retract(ref, "wrong threat"))
    closed = alert_after(event, open_alert)
    assert closed.retracted and closed.ended_by == "token:borys" and not closed.is_open
    assert closed.ended_at == event.occurred_at
    assert "Загроза артобстрілу" in event.correction  # type: ignore[operator]
    log.run(ANNA, Declare(oblast, Threat.ARTILLERY_SHELLING))  # may be declared again at once


def test_retraction_of_a_drill_says_so(catalogue: Catalogue) -> None:
    log = Log(catalogue)
    oblast = catalogue.oblasts[2].id
    log.run(ANNA, Declare(oblast, Threat.AIR_RAID, AlertStatus.EXERCISE))
    ref = AlertRef(region_id=oblast, threat=Threat.AIR_RAID, status=AlertStatus.EXERCISE)
    (event,) = log.run(ANNA, Retract(ref, "wrong drill"))
    assert "Повітряна тривога (навчання)" in event.correction  # type: ignore[operator]
    assert "Air raid alert (exercise)" in event.correction  # type: ignore[operator]


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("", "reason_missing"),
        ("   \n", "reason_missing"),
        ("x" * 501, "reason_too_long"),
        ("a\x00b", "reason_invalid"),
        ("\ufffe", "reason_invalid"),
    ],
)
def test_retraction_needs_a_reason_within_range(
    catalogue: Catalogue, reason: str, code: str
) -> None:
    log = Log(catalogue)
    (declared,) = log.run(ANNA, Declare(catalogue.oblasts[0].id, Threat.AIR_RAID))
    refusal = log.refused(ANNA, Retract(AlertRef(alert_id=declared.id), reason))
    assert (refusal.http_status, refusal.code) == (422, code)
    assert refusal.extra.get("field") == "reason"
    log.run(ANNA, Retract(AlertRef(alert_id=declared.id), "x" * 500))  # the limit itself


def test_retraction_obeys_scope_drills_and_openness(catalogue: Catalogue) -> None:
    log = Log(catalogue)
    first, second = catalogue.oblasts[0].id, catalogue.oblasts[1].id
    (real,) = log.run(ANNA, Declare(first, Threat.AIR_RAID))
    (drill,) = log.run(ANNA, Declare(first, Threat.AIR_RAID, AlertStatus.TEST))
    scoped = Actor("token:second", scopes=(second,))
    drills = Actor("token:drills", drills_only=True)
    assert log.refused(scoped, Retract(AlertRef(alert_id=real.id), "r")).code == (
        "region_out_of_scope"
    )
    assert log.refused(drills, Retract(AlertRef(alert_id=real.id), "r")).code == "drills_only"
    log.run(drills, Retract(AlertRef(alert_id=drill.id), "r"))  # drills only: drills only
    log.run(ANNA, End(AlertRef(alert_id=real.id)))
    refusal = log.refused(ANNA, Retract(AlertRef(alert_id=real.id), "too late"))
    assert (refusal.http_status, refusal.code) == (409, "alert_not_open")
    refusal = log.refused(ANNA, Retract(AlertRef(region_id=first), "no threat named"))
    assert refusal.code == "alert_not_named"


# Multi-region declarations --------------------------------------------------------------------


def test_a_batch_declares_every_region_with_consecutive_ids(catalogue: Catalogue) -> None:
    log = Log(catalogue)
    regions = tuple(o.id for o in catalogue.oblasts[:3])
    events = log.run(
        ANNA, DeclareMany(regions, Threat.AIR_RAID, details=(Detail.DRONES,), notes="шахеди")
    )
    assert [e.id for e in events] == [1, 2, 3] and [e.alert_id for e in events] == [1, 2, 3]
    assert [e.region_id for e in events] == list(regions)
    assert {(e.kind, e.notes, e.details) for e in events} == {
        (EventKind.DECLARED, "шахеди", (Detail.DRONES,))
    }
    assert sorted(log.state.open_alerts) == [1, 2, 3]


@pytest.mark.parametrize(
    ("make", "code", "status"),
    [
        (lambda c, o: (), "region_count_out_of_range", 422),
        (lambda c, o: tuple(r.id for r in list(c)[1:102]), "region_count_out_of_range", 422),
        (lambda c, o: (o[0], o[1], o[0]), "duplicate_region", 422),
        (lambda c, o: (o[0], c.children(o[0])[0].id), "regions_overlap", 422),
        (lambda c, o: (c.children(c.children(o[1])[0].id)[0].id, o[1]), "regions_overlap", 422),
        (lambda c, o: (o[0], "UA99999"), "unknown_region", 404),
        (lambda c, o: (o[0], "x" * 40), "text_too_long", 422),
    ],
)
def test_a_bad_batch_is_refused_whole(catalogue: Catalogue, make, code: str, status: int) -> None:
    log = Log(catalogue)
    oblasts = [o.id for o in catalogue.oblasts[:3]]
    refusal = log.refused(ANNA, DeclareMany(make(catalogue, oblasts), Threat.AIR_RAID))
    assert (refusal.code, refusal.http_status) == (code, status)
    assert log.events == []


def test_a_batch_names_the_region_that_fails(catalogue: Catalogue) -> None:
    log = Log(catalogue)
    a, b, c = (o.id for o in catalogue.oblasts[5:8])
    log.run(ANNA, Declare(b, Threat.AIR_RAID))
    refusal = log.refused(ANNA, DeclareMany((a, b, c), Threat.AIR_RAID))
    assert (refusal.code, refusal.extra["region_id"]) == ("alert_already_open", b)
    scoped = Actor("token:a", scopes=(a,))
    refusal = log.refused(scoped, DeclareMany((a, c), Threat.AIR_RAID))
    assert (refusal.code, refusal.extra["region_id"]) == ("region_out_of_scope", c)
    assert refusal.http_status == 403
    assert len(log.events) == 1
