"""What both compatible surfaces show at one log id, computed once and shared by every view.

Statuses come only from `hub.statuses()`; the alerts listed are the open actual alerts
(`tryvoha.views.matching_alerts`), so both surfaces agree with tryvoha's own API at any log id.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from tryvoha.alerts.model import Alert, RegionStatus, Threat
from tryvoha.alerts.status import ThreatStatus
from tryvoha.compat.ids import Crosswalk, crosswalk
from tryvoha.compat.levels import alert_level, strongest
from tryvoha.readmodel import ReadModel
from tryvoha.views import matching_alerts


@dataclass(frozen=True, slots=True)
class Snapshot:
    log_id: int
    alerts: list[Alert]
    """Open actual alerts, oldest first."""
    air: ThreatStatus
    cw: Crosswalk

    def covering(self, region_id: str, threat: Threat | None = None) -> list[Alert]:
        """Open alerts on the region itself or an ancestor: the ones that make it active."""
        chain = {region_id, *(r.id for r in self.cw.catalogue.ancestors(region_id))}
        return [
            a
            for a in self.alerts
            if a.region_id in chain and (threat is None or a.threat is threat)
        ]

    def air_char(self, region_id: str, levels: bool) -> str:
        """One character of the IoT strings: A (R/Y with levels), P or N."""
        status = self.air.of(region_id)
        if status is RegionStatus.PARTIAL:
            return "P"
        if status is RegionStatus.NONE:
            return "N"
        if not levels:
            return "A"
        covering = self.covering(region_id, Threat.AIR_RAID)
        return "Y" if strongest(alert_level(a) for a in covering) == "yellow" else "R"


_cache: weakref.WeakKeyDictionary[ReadModel, Snapshot] = weakref.WeakKeyDictionary()


def snapshot(hub: ReadModel) -> Snapshot:
    """The snapshot at the hub's current log id (one per hub, rebuilt when the log moves on)."""
    cached = _cache.get(hub)
    if cached is not None and cached.log_id == hub.last_event_id:
        return cached
    snap = Snapshot(
        log_id=hub.last_event_id,
        alerts=matching_alerts(hub),
        air=hub.statuses()[Threat.AIR_RAID],
        cw=crosswalk(hub.catalogue),
    )
    _cache[hub] = snap
    return snap
