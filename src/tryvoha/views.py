"""Read views of the hub's state, shared by every interface so they agree at any log id.

The HTTP API, the streams' snapshots, MQTT and the map all render region status from here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tryvoha.alerts.model import Alert, AlertStatus, RegionStatus, Threat
from tryvoha.alerts.wire import alert_doc, iso
from tryvoha.readmodel import ReadModel
from tryvoha.regions import Region


def region_doc(region: Region) -> dict[str, Any]:
    return {
        "id": region.id,
        "level": region.level.value,
        "parent_id": region.parent_id,
        "oblast_id": region.oblast_id,
        "name_uk": region.name_uk,
        "name_en": region.name_en,
        "katottg": region.katottg,
        "ukrainealarm_id": region.ukrainealarm_id,
        "alerts_in_ua_uid": region.alerts_in_ua_uid,
    }


def compact_status(hub: ReadModel, drills: bool = False) -> dict[str, Any]:
    """Per threat, the regions with an alert of their own (`alerts`) and the `partial` ones.

    Every other region is `active` exactly when it lies within one of the alerted regions: a
    client that knows the region tree needs nothing more, and the answer stays a few hundred bytes.
    """
    statuses = hub.statuses(drills=drills)
    doc: dict[str, Any] = {
        "log_id": hub.last_event_id,
        "updated_at": iso(hub.last_recorded_at),
    }
    doc["threats"] = {
        threat.value: {"alerts": sorted(s.roots), "partial": sorted(s.partial)}
        for threat, s in statuses.items()
        if s.roots
    }
    return doc


def active_since(hub: ReadModel, threat: Threat, drills: bool = False) -> dict[str, datetime]:
    """For every active region, since when: the earliest start among the alerts covering it."""
    kinds = {AlertStatus.EXERCISE, AlertStatus.TEST} if drills else {AlertStatus.ACTUAL}
    since: dict[str, datetime] = {}
    for alert in hub.open_alerts():
        if alert.threat is not threat or alert.status not in kinds:
            continue
        covered = [alert.region_id, *(r.id for r in hub.catalogue.descendants(alert.region_id))]
        for region_id in covered:
            known = since.get(region_id)
            if known is None or alert.started_at < known:
                since[region_id] = alert.started_at
    return since


def detailed_status(hub: ReadModel, threat: Threat, drills: bool = False) -> dict[str, Any]:
    """Every region with its status for `threat` and, when active, since when."""
    status = hub.statuses(drills=drills)[threat]
    since = active_since(hub, threat, drills)
    regions = []
    for region in hub.catalogue:
        value = status.of(region.id)
        regions.append(
            {
                "id": region.id,
                "level": region.level.value,
                "name_uk": region.name_uk,
                "name_en": region.name_en,
                "status": value.value,
                "since": iso(since.get(region.id)) if value is RegionStatus.ACTIVE else None,
            }
        )
    return {
        "log_id": hub.last_event_id,
        "updated_at": iso(hub.last_recorded_at),
        "threat": threat.value,
        "drills": drills,
        "regions": regions,
    }


def region_statuses(hub: ReadModel, region_id: str, drills: bool = False) -> dict[str, str]:
    return {t.value: s.of(region_id).value for t, s in hub.statuses(drills=drills).items()}


def matching_alerts(
    hub: ReadModel,
    region_id: str | None = None,
    threat: Threat | None = None,
    statuses: frozenset[AlertStatus] = frozenset({AlertStatus.ACTUAL}),
) -> list[Alert]:
    """Open alerts, optionally within a region (its own and its descendants') and of a threat."""
    result = []
    for alert in hub.open_alerts():
        if alert.status not in statuses or (threat is not None and alert.threat is not threat):
            continue
        if region_id is not None and not hub.catalogue.is_within(alert.region_id, region_id):
            continue
        result.append(alert)
    return result


def active_alerts_doc(hub: ReadModel, alerts: list[Alert]) -> dict[str, Any]:
    return {"log_id": hub.last_event_id, "alerts": [alert_doc(a) for a in alerts]}
