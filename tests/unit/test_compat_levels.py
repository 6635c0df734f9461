"""compat/levels.py: red and yellow alert levels, and the two services' threat names."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tryvoha.alerts.model import Alert, AlertStatus, Detail, Threat
from tryvoha.compat.levels import (
    AIU_THREAT_TYPES,
    RED,
    UA_ALERT_TYPES,
    YELLOW,
    alert_level,
    detail_level,
    strongest,
)

AT = datetime(2026, 3, 1, tzinfo=UTC)


def alert(threat: Threat, *details: Detail) -> Alert:
    return Alert(1, "UA", threat, AlertStatus.ACTUAL, AT, "t", details=details)


@pytest.mark.parametrize(
    ("threat", "details", "level"),
    [
        (Threat.AIR_RAID, (Detail.DRONES,), YELLOW),
        (Threat.AIR_RAID, (Detail.DRONES, Detail.DRONES), YELLOW),
        (Threat.AIR_RAID, (), RED),  # no details: the strongest reading
        (Threat.AIR_RAID, (Detail.DRONES, Detail.BALLISTIC_MISSILE), RED),
        (Threat.AIR_RAID, (Detail.AVIATION,), RED),
        (Threat.ARTILLERY_SHELLING, (), RED),
        (Threat.NUCLEAR, (), RED),
    ],
)
def test_alert_level(threat: Threat, details: tuple[Detail, ...], level: str) -> None:
    assert alert_level(alert(threat, *details)) == level


def test_only_drones_are_yellow() -> None:
    assert {d: detail_level(d) for d in Detail} == {
        d: YELLOW if d is Detail.DRONES else RED for d in Detail
    }


@pytest.mark.parametrize(
    ("levels", "result"),
    [
        ([], None),
        ([YELLOW], YELLOW),
        ([YELLOW, RED, YELLOW], RED),
        ([RED], RED),
        ({YELLOW}, YELLOW),
    ],
)
def test_red_wins(levels, result) -> None:
    assert strongest(levels) == result
    assert strongest(iter(levels)) == result  # any iterable, read once


def test_every_detail_and_threat_has_a_name_on_the_surfaces() -> None:
    assert set(AIU_THREAT_TYPES) == set(Detail)
    assert set(UA_ALERT_TYPES) == set(Threat)
    assert len(set(AIU_THREAT_TYPES.values())) == len(Detail)
    assert len(set(UA_ALERT_TYPES.values())) == len(Threat)
    assert UA_ALERT_TYPES[Threat.AIR_RAID] == "AIR"
