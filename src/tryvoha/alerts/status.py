"""Region status per threat: `active`, `partial` or `none`, derived from the open alerts.

A region is `active` when it or an ancestor has an open alert of the threat, `partial` when it is
not active but a descendant is. Only `actual` alerts count for the public status; exercise and test
alerts get their own, separate view when asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tryvoha.alerts.model import Alert, AlertStatus, RegionStatus, Threat
from tryvoha.regions import Catalogue


@dataclass(frozen=True, slots=True)
class ThreatStatus:
    """Status of every region for one threat: roots are the regions with an alert of their own."""

    threat: Threat
    active: frozenset[str]
    partial: frozenset[str]
    roots: frozenset[str]

    def of(self, region_id: str) -> RegionStatus:
        if region_id in self.active:
            return RegionStatus.ACTIVE
        if region_id in self.partial:
            return RegionStatus.PARTIAL
        return RegionStatus.NONE


def threat_status(
    catalogue: Catalogue,
    alerts: Iterable[Alert],
    threat: Threat,
    statuses: frozenset[AlertStatus] = frozenset({AlertStatus.ACTUAL}),
) -> ThreatStatus:
    """Compute the status of every region for `threat` from the open `alerts`."""
    roots = frozenset(
        a.region_id for a in alerts if a.is_open and a.threat is threat and a.status in statuses
    )
    active: set[str] = set()
    partial: set[str] = set()
    for root in roots:
        if root in active:
            continue
        active.add(root)
        active.update(r.id for r in catalogue.descendants(root))
    for root in roots:
        for ancestor in catalogue.ancestors(root):
            if ancestor.id in active:
                break
            partial.add(ancestor.id)
    partial -= active
    return ThreatStatus(threat, frozenset(active), frozenset(partial), roots)


def all_threat_statuses(
    catalogue: Catalogue,
    alerts: Mapping[int, Alert],
    statuses: frozenset[AlertStatus] = frozenset({AlertStatus.ACTUAL}),
) -> dict[Threat, ThreatStatus]:
    return {t: threat_status(catalogue, alerts.values(), t, statuses) for t in Threat}
