"""alerts/status.py: a region's status per threat, folded from the open alerts."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from tryvoha.alerts.model import Alert, AlertStatus, RegionStatus, Threat
from tryvoha.alerts.status import all_threat_statuses, threat_status
from tryvoha.regions import Catalogue, Level, load_catalogue

CATALOGUE = load_catalogue()
AT = datetime(2026, 3, 1, tzinfo=UTC)
ACTIVE, PARTIAL, NONE = RegionStatus.ACTIVE, RegionStatus.PARTIAL, RegionStatus.NONE


def alert(
    alert_id: int,
    region_id: str,
    threat: Threat = Threat.AIR_RAID,
    status: AlertStatus = AlertStatus.ACTUAL,
    ended: bool = False,
) -> Alert:
    return Alert(
        alert_id, region_id, threat, status, AT, "t", ended_at=AT if ended else None,
        last_event_id=alert_id,
    )  # fmt: skip


def family(catalogue: Catalogue, oblast_index: int = 9):
    oblast = catalogue.oblasts[oblast_index]
    raion, other_raion = catalogue.children(oblast.id)[:2]
    return oblast, raion, other_raion, catalogue.children(raion.id)[0]


def test_no_alert_no_status(catalogue: Catalogue) -> None:
    status = threat_status(catalogue, [], Threat.AIR_RAID)
    assert status.active == status.partial == status.roots == frozenset()
    assert status.of("UA") is NONE


def test_a_hromada_alert_makes_its_ancestors_partial(catalogue: Catalogue) -> None:
    oblast, raion, other_raion, hromada = family(catalogue)
    status = threat_status(catalogue, [alert(1, hromada.id)], Threat.AIR_RAID)
    assert status.active == {hromada.id} and status.roots == {hromada.id}
    assert status.partial == {raion.id, oblast.id, "UA"}
    assert status.of(other_raion.id) is NONE


def test_an_oblast_alert_makes_everything_in_it_active(catalogue: Catalogue) -> None:
    oblast, raion, _, hromada = family(catalogue)
    status = threat_status(catalogue, [alert(1, oblast.id)], Threat.AIR_RAID)
    assert status.active == {oblast.id, *(r.id for r in catalogue.descendants(oblast.id))}
    assert status.of(raion.id) is status.of(hromada.id) is ACTIVE
    assert status.partial == {"UA"}


def test_a_country_wide_alert_leaves_nothing_partial(catalogue: Catalogue) -> None:
    status = threat_status(catalogue, [alert(1, "UA")], Threat.AIR_RAID)
    assert len(status.active) == len(catalogue) and status.partial == frozenset()


def test_nested_alerts(catalogue: Catalogue) -> None:
    """A raion alert inside an oblast alert: both are roots; nothing inside is partial."""
    oblast, raion, _, hromada = family(catalogue)
    for alerts in (
        [alert(1, oblast.id), alert(2, raion.id)],
        [alert(2, raion.id), alert(1, oblast.id)],
    ):
        status = threat_status(catalogue, alerts, Threat.AIR_RAID)
        assert status.roots == {oblast.id, raion.id}
        assert status.of(hromada.id) is ACTIVE and status.partial == {"UA"}


def test_only_open_actual_alerts_of_the_threat_count(catalogue: Catalogue) -> None:
    _, raion, _, _ = family(catalogue)
    alerts = [
        alert(1, raion.id, ended=True),
        alert(2, raion.id, Threat.ARTILLERY_SHELLING),
        alert(3, raion.id, status=AlertStatus.EXERCISE),
        alert(4, raion.id, status=AlertStatus.TEST),
    ]
    assert threat_status(catalogue, alerts, Threat.AIR_RAID).active == frozenset()
    assert threat_status(catalogue, alerts, Threat.ARTILLERY_SHELLING).of(raion.id) is ACTIVE
    drills = frozenset({AlertStatus.EXERCISE, AlertStatus.TEST})
    assert threat_status(catalogue, alerts, Threat.AIR_RAID, drills).roots == {raion.id}


def test_the_kyiv_pseudo_raion_leaves_the_city_partial(catalogue: Catalogue) -> None:
    """The pseudo-raion covers all of Kyiv, but the rule is by the tree: the city is partial."""
    status = threat_status(catalogue, [alert(1, "UA8000")], Threat.AIR_RAID)
    assert status.active == {"UA8000", "UA8000000"}
    assert status.of(catalogue.get("UA8000").parent_id) is PARTIAL


def test_every_threat_is_folded(catalogue: Catalogue) -> None:
    _, raion, _, _ = family(catalogue)
    alerts = {1: alert(1, raion.id, Threat.CHEMICAL)}
    statuses = all_threat_statuses(catalogue, alerts)
    assert set(statuses) == set(Threat)
    assert {t for t, s in statuses.items() if s.active} == {Threat.CHEMICAL}


region_ids = st.sampled_from([r.id for r in CATALOGUE])
AT_OR_ABOVE = {r.id: {r.id, *(a.id for a in CATALOGUE.ancestors(r.id))} for r in CATALOGUE}
"""Each region with every region containing it."""
level_weighted = st.sampled_from([r.id for r in CATALOGUE if r.level is not Level.HROMADA])


@settings(max_examples=60, deadline=None)
@given(roots=st.lists(region_ids | level_weighted, max_size=5))
def test_the_fold_is_the_definition(roots: list[str]) -> None:
    """Active: the region or a region containing it has an alert; partial: not active, and a
    region inside it has one."""
    status = threat_status(
        CATALOGUE, [alert(i, r) for i, r in enumerate(roots, 1)], Threat.AIR_RAID
    )
    for region in CATALOGUE:
        active = not AT_OR_ABOVE[region.id].isdisjoint(roots)
        inside = any(region.id in AT_OR_ABOVE[root] for root in roots)
        expected = ACTIVE if active else PARTIAL if inside else NONE
        assert status.of(region.id) is expected, region.id
    assert status.active.isdisjoint(status.partial)
