"""Alert levels and threat names of the compatible APIs, derived from tryvoha's alert details.

Both services split air-raid alerts into a red and a yellow level; yellow is the drone-only
threat ("Дронова загроза (жовтий рівень)"). tryvoha records what kind of air threat it is, so an
air-raid alert whose details are drones only is yellow and every other one (including an alert
with no details) is red. Where several alerts cover a region, red wins.
"""

from __future__ import annotations

from collections.abc import Iterable

from tryvoha.alerts.model import Alert, Detail, Threat

RED, YELLOW = "red", "yellow"

AIU_THREAT_TYPES = {
    Detail.DRONES: "drones",
    Detail.CRUISE_MISSILE: "cruise_missiles",
    Detail.BALLISTIC_MISSILE: "ballistic_missiles",
    Detail.GUIDED_BOMBS: "guided_aerial_bombs",
    Detail.AVIATION: "tactic_aircraft_activity",
}

UA_ALERT_TYPES = {
    Threat.AIR_RAID: "AIR",
    Threat.ARTILLERY_SHELLING: "ARTILLERY",
    Threat.URBAN_FIGHTS: "URBAN_FIGHTS",
    Threat.CHEMICAL: "CHEMICAL",
    Threat.NUCLEAR: "NUCLEAR",
}


def alert_level(alert: Alert) -> str:
    if alert.threat is Threat.AIR_RAID and alert.details and set(alert.details) <= {Detail.DRONES}:
        return YELLOW
    return RED


def detail_level(detail: Detail) -> str:
    return YELLOW if detail is Detail.DRONES else RED


def strongest(levels: Iterable[str]) -> str | None:
    seen = set(levels)
    if RED in seen:
        return RED
    return YELLOW if YELLOW in seen else None
