"""alerts/approval.py: which declarations wait for a second operator, and its settings."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tryvoha.alerts.approval import (
    MAX_OBLASTS_RANGE,
    OBLAST_COUNT,
    TTL_RANGE,
    ApprovalPolicy,
    oblasts_touched,
)
from tryvoha.alerts.model import AlertStatus, Threat
from tryvoha.regions import Level, load_catalogue

CATALOGUE = load_catalogue()
OBLASTS = [o.id for o in CATALOGUE.oblasts]
BUCHA = "UA32080070000050759"  # a hromada of Kyiv oblast
KYIV_OBLAST = "UA32000000000030281"
POLICY = ApprovalPolicy()


def why(
    regions: list[str], threat: Threat = Threat.AIR_RAID, status: AlertStatus = AlertStatus.ACTUAL
) -> str | None:
    return POLICY.why(CATALOGUE, regions, threat, status)


def test_an_ordinary_air_raid_alert_goes_out_at_once() -> None:
    assert why([BUCHA]) is None
    assert why(OBLASTS[:3]) is None  # three oblasts: the default limit, not beyond it


@pytest.mark.parametrize(
    ("regions", "threat", "reason"),
    [
        ([BUCHA], Threat.NUCLEAR, "an actual nuclear alert needs a second operator"),
        ([BUCHA], Threat.CHEMICAL, "an actual chemical alert needs a second operator"),
        (["UA"], Threat.AIR_RAID, "an alert for the whole country needs a second operator"),
        (OBLASTS[:4], Threat.AIR_RAID, "an alert touching 4 oblasts (more than 3) needs a"),
    ],
)
def test_the_gravest_and_widest_actual_alerts_wait_saying_why(
    regions: list[str], threat: Threat, reason: str
) -> None:
    found = why(regions, threat)
    assert found is not None and found.startswith(reason)


@pytest.mark.parametrize("status", [AlertStatus.EXERCISE, AlertStatus.TEST])
def test_drills_never_wait(status: AlertStatus) -> None:
    assert why(["UA"], Threat.NUCLEAR, status) is None


def test_levels_make_alerts_at_them_wait() -> None:
    policy = ApprovalPolicy(levels=frozenset({Level.OBLAST, Level.HROMADA}))
    reason = policy.why(CATALOGUE, [BUCHA, KYIV_OBLAST], Threat.AIR_RAID, AlertStatus.ACTUAL)
    assert reason == "an alert at hromada and oblast level needs a second operator"


def test_oblasts_touched_counts_each_oblast_once_and_the_country_as_all() -> None:
    assert oblasts_touched(CATALOGUE, [BUCHA, KYIV_OBLAST]) == 1
    assert oblasts_touched(CATALOGUE, [BUCHA, OBLASTS[0], OBLASTS[1]]) == len(
        {KYIV_OBLAST, OBLASTS[0], OBLASTS[1]}
    )
    assert oblasts_touched(CATALOGUE, ["UA"]) == len(CATALOGUE.oblasts) == OBLAST_COUNT


def test_settings_read_from_the_environment_at_their_bounds() -> None:
    low = ApprovalPolicy.from_env(
        {
            "TRYVOHA_APPROVAL_THREATS": " Nuclear ",
            "TRYVOHA_APPROVAL_MAX_OBLASTS": str(MAX_OBLASTS_RANGE[0]),
            "TRYVOHA_APPROVAL_LEVELS": "raion,hromada",
            "TRYVOHA_APPROVAL_TTL": str(TTL_RANGE[0]),
        }
    )
    assert low == ApprovalPolicy(
        frozenset({Threat.NUCLEAR}),
        MAX_OBLASTS_RANGE[0],
        frozenset({Level.RAION, Level.HROMADA}),
        timedelta(seconds=TTL_RANGE[0]),
    )
    high = ApprovalPolicy.from_env(
        {
            "TRYVOHA_APPROVAL_THREATS": "none",
            "TRYVOHA_APPROVAL_MAX_OBLASTS": str(MAX_OBLASTS_RANGE[1]),
            "TRYVOHA_APPROVAL_TTL": str(TTL_RANGE[1]),
        }
    )
    assert (high.threats, high.max_oblasts, high.ttl) == (
        frozenset(),
        MAX_OBLASTS_RANGE[1],
        timedelta(seconds=TTL_RANGE[1]),
    )
    assert ApprovalPolicy.from_env({}) == ApprovalPolicy()


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("TRYVOHA_APPROVAL_MAX_OBLASTS", "0", "from 1 to 26, not '0'"),
        ("TRYVOHA_APPROVAL_MAX_OBLASTS", "27", "from 1 to 26, not '27'"),
        ("TRYVOHA_APPROVAL_MAX_OBLASTS", "three", "from 1 to 26, not 'three'"),
        ("TRYVOHA_APPROVAL_TTL", "29", "from 30 to 3600, not '29'"),
        ("TRYVOHA_APPROVAL_TTL", "3601", "from 30 to 3600, not '3601'"),
        ("TRYVOHA_APPROVAL_THREATS", "nuclear,meteor", "'meteor' is not one of air_raid"),
        ("TRYVOHA_APPROVAL_LEVELS", "country", "'country' is not one of oblast, raion, hromada"),
    ],
)
def test_a_setting_outside_its_range_is_refused_naming_it(
    name: str, value: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=f"^{name}") as refused:
        ApprovalPolicy.from_env({name: value})
    assert problem in str(refused.value)
