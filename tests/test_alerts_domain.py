"""The pure domain: decide + fold, proved over random command sequences (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tryvoha.alerts.commands import Actor, AlertRef, Declare, End, Rejected, Update, decide
from tryvoha.alerts.model import (
    AlertStatus,
    Detail,
    Event,
    EventDraft,
    EventKind,
    RegionStatus,
    Threat,
)
from tryvoha.alerts.state import AlertState, LogOrderError, fold
from tryvoha.alerts.status import threat_status
from tryvoha.regions import Catalogue, Level

START = datetime(2024, 2, 24, 3, 0, tzinfo=UTC)
ADMIN = Actor("token:admin")


def sample_regions(catalogue: Catalogue) -> list[str]:
    """Two oblasts, some of their raions and hromadas: small enough for collisions to happen."""
    picked: list[str] = []
    for oblast in catalogue.oblasts[:2]:
        picked.append(oblast.id)
        for raion in catalogue.children(oblast.id)[:2]:
            picked.append(raion.id)
            picked.extend(h.id for h in catalogue.children(raion.id)[:2])
    return picked


def to_event(drafts: tuple[EventDraft, ...], event_id: int, recorded_at: datetime) -> Event:
    """The one event a single-region command makes."""
    (draft,) = drafts
    return draft.to_event(event_id, recorded_at)


def commands(regions: list[str]) -> st.SearchStrategy:
    region = st.sampled_from([*regions, "UA99999"])  # one unknown region among them
    threat = st.sampled_from([Threat.AIR_RAID, Threat.ARTILLERY_SHELLING])
    status = st.sampled_from([AlertStatus.ACTUAL, AlertStatus.ACTUAL, AlertStatus.EXERCISE])
    details = st.lists(st.sampled_from(list(Detail)), max_size=2).map(tuple)
    offset = st.integers(min_value=-120, max_value=600)
    declare = st.builds(
        lambda r, t, s, d, o: ("declare", Declare(r, t, s, d), o),
        region,
        threat,
        status,
        details,
        offset,
    )
    end_by_region = st.builds(
        lambda r, t, s, o: ("end", End(AlertRef(region_id=r, threat=t, status=s)), o),
        region,
        threat,
        status,
        offset,
    )
    end_by_id = st.builds(
        lambda i, o: ("end", End(AlertRef(alert_id=i)), o), st.integers(1, 40), offset
    )
    update = st.builds(
        lambda i, d, o: ("update", Update(AlertRef(alert_id=i), details=d), o),
        st.integers(1, 40),
        details,
        offset,
    )
    return st.lists(st.one_of(declare, declare, end_by_region, end_by_id, update), max_size=40)


def check_hierarchy(catalogue: Catalogue, state: AlertState) -> None:
    for threat in (Threat.AIR_RAID, Threat.ARTILLERY_SHELLING):
        status = threat_status(catalogue, state.open_alerts.values(), threat)
        for region in catalogue:
            own = region.id in status.roots
            ancestor_alerted = any(a.id in status.roots for a in catalogue.ancestors(region.id))
            descendant_alerted = any(d.id in status.roots for d in catalogue.descendants(region.id))
            expected = (
                RegionStatus.ACTIVE
                if own or ancestor_alerted
                else RegionStatus.PARTIAL
                if descendant_alerted
                else RegionStatus.NONE
            )
            assert status.of(region.id) is expected, (region.id, threat)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_fold_equals_incremental_and_hierarchy_holds(
    catalogue: Catalogue, data: st.DataObject
) -> None:
    regions = sample_regions(catalogue)
    script = data.draw(commands(regions))
    state = AlertState()
    log: list[Event] = []
    now = START
    for _, command, offset in script:
        now += timedelta(seconds=61)
        occurred = now + timedelta(seconds=offset)
        command = type(command)(**{**_fields(command), "occurred_at": occurred})
        before = state.canonical()
        try:
            drafts = decide(state, catalogue, ADMIN, command, now)
        except Rejected as rejected:
            assert 400 <= rejected.http_status < 500
            assert state.canonical() == before  # a rejected command changes nothing
            continue
        event = to_event(drafts, len(log) + 1, now)
        log.append(event)
        state.apply(event)
    assert fold(log).canonical() == state.canonical()
    check_hierarchy(catalogue, state)


def _fields(command: object) -> dict:
    return {name: getattr(command, name) for name in command.__slots__}  # type: ignore[attr-defined]


def test_exercise_never_changes_public_status(catalogue: Catalogue) -> None:
    oblast = catalogue.oblasts[0].id
    state = AlertState()
    drafts = decide(
        state, catalogue, ADMIN, Declare(oblast, Threat.AIR_RAID, AlertStatus.EXERCISE), START
    )
    state.apply(to_event(drafts, 1, START))
    public = threat_status(catalogue, state.open_alerts.values(), Threat.AIR_RAID)
    drills = threat_status(
        catalogue, state.open_alerts.values(), Threat.AIR_RAID, frozenset({AlertStatus.EXERCISE})
    )
    assert public.of(oblast) is RegionStatus.NONE
    assert drills.of(oblast) is RegionStatus.ACTIVE
    # and a drill does not block a real alert for the same region and threat
    decide(state, catalogue, ADMIN, Declare(oblast, Threat.AIR_RAID), START)


def test_oblast_partial_while_raion_alert_stays(catalogue: Catalogue) -> None:
    oblast = catalogue.oblasts[3]
    raion = catalogue.children(oblast.id)[0]
    state = AlertState()
    for i, cmd in enumerate(
        [Declare(oblast.id, Threat.AIR_RAID), Declare(raion.id, Threat.AIR_RAID)], 1
    ):
        state.apply(to_event(decide(state, catalogue, ADMIN, cmd, START), i, START))
    end = decide(state, catalogue, ADMIN, End(AlertRef(alert_id=1)), START + timedelta(minutes=5))
    state.apply(to_event(end, 3, START))
    status = threat_status(catalogue, state.open_alerts.values(), Threat.AIR_RAID)
    assert status.of(oblast.id) is RegionStatus.PARTIAL
    assert status.of(raion.id) is RegionStatus.ACTIVE
    hromada = catalogue.children(raion.id)[0]
    assert status.of(hromada.id) is RegionStatus.ACTIVE
    other_raion = catalogue.children(oblast.id)[1]
    assert status.of(other_raion.id) is RegionStatus.NONE
    assert status.of(catalogue.country.id) is RegionStatus.PARTIAL


@pytest.mark.parametrize(
    ("command", "code", "http"),
    [
        (Declare("UA00000", Threat.AIR_RAID), "unknown_region", 404),
        (End(AlertRef(alert_id=77)), "alert_not_open", 409),
        (
            Declare("{oblast}", Threat.ARTILLERY_SHELLING, details=(Detail.DRONES,)),
            "details_not_allowed",
            422,
        ),
    ],
)
def test_rejections_name_the_problem(catalogue: Catalogue, command, code: str, http: int) -> None:
    if isinstance(command, Declare) and command.region_id == "{oblast}":
        command = Declare(catalogue.oblasts[0].id, command.threat, details=command.details)
    with pytest.raises(Rejected) as info:
        decide(AlertState(), catalogue, ADMIN, command, START)
    assert info.value.code == code and info.value.http_status == http
    assert info.value.message


def test_time_rules(catalogue: Catalogue) -> None:
    oblast = catalogue.oblasts[0].id
    state = AlertState()
    with pytest.raises(Rejected) as info:
        decide(
            state,
            catalogue,
            ADMIN,
            Declare(oblast, Threat.AIR_RAID, occurred_at=START + timedelta(minutes=6)),
            START,
        )
    assert info.value.code == "time_in_future"
    state.apply(
        to_event(decide(state, catalogue, ADMIN, Declare(oblast, Threat.AIR_RAID), START), 1, START)
    )
    with pytest.raises(Rejected) as info:
        decide(
            state,
            catalogue,
            ADMIN,
            End(AlertRef(alert_id=1), occurred_at=START - timedelta(seconds=1)),
            START,
        )
    assert info.value.code == "time_before_last_event"


def test_scope_and_drills_only(catalogue: Catalogue) -> None:
    oblast, other = catalogue.oblasts[0], catalogue.oblasts[1]
    hromada = catalogue.children(catalogue.children(oblast.id)[0].id)[0]
    scoped = Actor("token:x", scopes=(oblast.id,))
    decide(AlertState(), catalogue, scoped, Declare(hromada.id, Threat.AIR_RAID), START)
    with pytest.raises(Rejected) as info:
        decide(AlertState(), catalogue, scoped, Declare(other.id, Threat.AIR_RAID), START)
    assert info.value.http_status == 403
    drills = Actor("token:d", drills_only=True)
    with pytest.raises(Rejected):
        decide(AlertState(), catalogue, drills, Declare(oblast.id, Threat.AIR_RAID), START)
    decide(
        AlertState(),
        catalogue,
        drills,
        Declare(oblast.id, Threat.AIR_RAID, AlertStatus.TEST),
        START,
    )


def test_fold_refuses_a_gap() -> None:
    event = Event(
        2, EventKind.DECLARED, 2, "UA", Threat.AIR_RAID, AlertStatus.ACTUAL, START, START, "x"
    )
    with pytest.raises(LogOrderError):
        AlertState().apply(event)


def test_levels_present(catalogue: Catalogue) -> None:
    assert {r.level for r in catalogue} == set(Level)


def test_a_copied_state_moves_on_alone(catalogue: Catalogue) -> None:
    """Group commit decides a batch against a copy: the hub's state changes only once the
    transaction is durable, and the copy moved on is the fold of the same events."""
    region = catalogue.oblasts[0].id
    later = START + timedelta(minutes=1)
    declare, end = (
        Declare(region, Threat.AIR_RAID),
        End(AlertRef(region_id=region, threat=Threat.AIR_RAID)),
    )
    state = AlertState()
    first = to_event(decide(state, catalogue, ADMIN, declare, START), 1, START)
    state.apply(first)
    before = state.canonical()
    copy = state.copy()
    ended = to_event(decide(copy, catalogue, ADMIN, end, later), 2, later)
    copy.apply(ended)
    again = to_event(decide(copy, catalogue, ADMIN, declare, later), 3, later)
    copy.apply(again)
    assert state.canonical() == before and list(state.open_alerts) == [1]
    assert list(copy.open_alerts) == [3]
    assert copy.canonical() == fold([first, ended, again]).canonical()
