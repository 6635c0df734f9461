"""The ukrainealarm API (`/api/v3/...`): alerts, the last-action index, regions and history.

An alert shows on the region it was declared for and on everything inside it: `alerts/{id}`
lists the open alerts on the region and its ancestors (each entry names the region where the
alert is declared), which is exactly when tryvoha calls the region `active`. `alerts/{id}`
always answers a one-element array, as Home Assistant and ESPHome read `[0]`.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from fastapi import APIRouter, Request, Response

from tryvoha.alerts.model import Alert, AlertStatus, Threat
from tryvoha.alerts.wire import iso
from tryvoha.compat.errors import compat_error
from tryvoha.compat.ids import UA_REGION_TYPES, Crosswalk, crosswalk, title_uk
from tryvoha.compat.levels import UA_ALERT_TYPES, YELLOW, alert_level
from tryvoha.compat.schemas import UaAlarm, UaRegion, UaRegionHistory, UaStatus, UaTree, documented
from tryvoha.compat.snapshot import Snapshot, snapshot
from tryvoha.readmodel import ReadModel
from tryvoha.regions import Region
from tryvoha.store import AlertQuery

KYIV = ZoneInfo("Europe/Kyiv")
HISTORY_SIZE = 25
DATE_LIMIT = 20_000
JSON = "application/json"
YELLOW_REASON = "Дронова загроза (жовтий рівень)"


def region_type(region: Region) -> str:
    return UA_REGION_TYPES.get(region.level, "Null")


def timespan(delta: timedelta) -> str:
    """A .NET TimeSpan string: `[d.]hh:mm:ss[.fffffff]`.

    Counted in integer microseconds: float seconds would turn 256.229 s into 256.228999.
    """
    micro = max(0, delta // timedelta(microseconds=1))
    seconds, micro = divmod(micro, 1_000_000)
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    days, hour = divmod(hours, 24)
    text = f"{hour:02d}:{minute:02d}:{second:02d}"
    if days:
        text = f"{days}.{text}"
    if micro:
        text += f".{micro * 10:07d}"
    return text


def _changed(alert: Alert) -> datetime:
    return alert.updated_at or alert.started_at


def active_entry(cw: Crosswalk, alert: Alert, shown_at: str) -> dict[str, Any]:
    """One element of `activeAlerts`, for an alert shown at region `shown_at`."""
    target = cw.whole_targets(alert.region_id, cw.ua_id_of, within=shown_at)
    where = cw.catalogue.get(target[0] if target else shown_at)
    entry: dict[str, Any] = {
        "regionId": cw.ua_id_of[where.id],
        "regionType": region_type(where),
        "type": UA_ALERT_TYPES[alert.threat],
        "lastUpdate": iso(_changed(alert)),
    }
    if alert.threat is Threat.AIR_RAID:
        level = alert_level(alert)
        entry["activeAlertLevels"] = [
            {
                "alertLevel": "Yellow" if level == YELLOW else "Red",
                "reason": YELLOW_REASON if level == YELLOW else (alert.notes or ""),
                "createdAt": iso(_changed(alert)),
            }
        ]
    return entry


def region_record(hub: ReadModel, snap: Snapshot, region_id: str) -> dict[str, Any]:
    """AlertRegionModel of one region with an id on this surface."""
    cw = snap.cw
    region = cw.catalogue.get(region_id)
    covering = snap.covering(region_id)
    updated: datetime | None
    if covering:
        updated = max(_changed(a) for a in covering)
    else:
        updated = hub.last_event_at(region_id) or hub.last_recorded_at
    return {
        "regionId": cw.ua_id_of[region_id],
        "regionType": region_type(region),
        "regionName": title_uk(region),
        "regionEngName": region.label("en"),
        "lastUpdate": iso(updated or hub.started_at),
        "activeAlerts": [active_entry(cw, a, region_id) for a in covering],
    }


def render_alerts(hub: ReadModel) -> bytes:
    """Every region an alert covers and names here: its own region, or the nearest ones below
    with an id (a country-wide alert lists every oblast).

    An alert on a region with no id here and none below it is not listed: this surface cannot
    say "in part of a region", and listing the region above would call all of it alerted.
    """
    snap = snapshot(hub)
    shown: set[str] = set()
    for alert in snap.alerts:
        shown.update(snap.cw.whole_targets(alert.region_id, snap.cw.ua_id_of))
    ordered = sorted(shown, key=snap.cw.catalogue.index_of)
    return orjson.dumps([region_record(hub, snap, rid) for rid in ordered])


def render_region(hub: ReadModel, region_id: str) -> bytes:
    return orjson.dumps([region_record(hub, snapshot(hub), region_id)])


def render_status(hub: ReadModel) -> bytes:
    """The last-action index is the log id: it grows with every change and survives restarts."""
    return orjson.dumps({"lastActionIndex": hub.last_event_id})


def render_regions(hub: ReadModel) -> bytes:
    cw = crosswalk(hub.catalogue)

    def node(region: Region) -> dict[str, Any]:
        return {
            "regionId": cw.ua_id_of[region.id],
            "regionName": title_uk(region),
            "regionType": region_type(region),
            "regionChildIds": [node(r) for r in nearest_with_id(cw, region.id)],
        }

    return orjson.dumps({"states": [node(r) for r in nearest_with_id(cw, cw.catalogue.country.id)]})


def nearest_with_id(cw: Crosswalk, region_id: str) -> list[Region]:
    found: list[Region] = []
    for child in cw.catalogue.children(region_id):
        if child.id in cw.ua_id_of:
            found.append(child)
        else:
            found.extend(nearest_with_id(cw, child.id))
    return found


def _ms(value: datetime) -> datetime:
    """Whole milliseconds, as the dates are written, so `duration` is exactly their difference."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def alarm(cw: Crosswalk, alert: Alert, shown_at: str, now: datetime) -> dict[str, Any]:
    """RegionAlarmModel; a running alarm ends "now" with `isContinue` set."""
    region = cw.catalogue.get(shown_at)
    end = alert.ended_at or now
    return {
        "regionId": cw.ua_id_of[shown_at],
        "regionName": title_uk(region),
        "startDate": iso(alert.started_at),
        "endDate": iso(end),
        "duration": timespan(_ms(end) - _ms(alert.started_at)),
        "alertType": UA_ALERT_TYPES[alert.threat],
        "isContinue": alert.ended_at is None,
    }


async def region_history(hub: ReadModel, region_id_text: str | None) -> Response:
    cw = crosswalk(hub.catalogue)
    region = cw.by_ua_id.get(region_id_text or "")
    if region is None:
        shown = (region_id_text or "")[:40]
        return compat_error(404, "unknown_region", f"no region with regionId {shown!r}")
    chain = [region.id, *(r.id for r in hub.catalogue.ancestors(region.id))]
    query = AlertQuery(
        region_ids=chain, statuses=frozenset({AlertStatus.ACTUAL}), limit=HISTORY_SIZE
    )
    found = await hub.query_alerts(query)
    now = hub.clock()
    body = [
        {
            "regionId": cw.ua_id_of[region.id],
            "regionName": title_uk(region),
            "alarms": [alarm(cw, a, region.id, now) for a in found],
        }
    ]
    return Response(orjson.dumps(body), media_type=JSON)


FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)
"""`dateHistory` answers for Kyiv days in this range (the hub's time range, `alerts.ranges`)."""


def parse_day(text: str | None) -> date | None:
    if text is None or len(text) != 8 or not (text.isascii() and text.isdigit()):
        return None
    try:
        day = datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        return None
    return day if FIRST_DAY <= day <= LAST_DAY else None


async def date_history(hub: ReadModel, date_text: str | None) -> Response:
    """Every alarm that ran during one day (Kyiv time), flat, oldest first."""
    day = parse_day(date_text)
    if day is None:
        return compat_error(
            400,
            "invalid_date",
            f"date must be YYYYMMDD from 20000101 to 20991231, got {(date_text or '')[:20]!r}",
        )
    start = datetime.combine(day, time(), KYIV)
    query = AlertQuery(
        statuses=frozenset({AlertStatus.ACTUAL}),
        since=start,
        until=start + timedelta(days=1),
        limit=DATE_LIMIT,
    )
    found = await hub.query_alerts(query)
    cw = crosswalk(hub.catalogue)
    now = hub.clock()
    body = [
        alarm(cw, a, target, now)
        for a in sorted(found, key=lambda a: (a.started_at, a.id))
        for target in cw.whole_targets(a.region_id, cw.ua_id_of)
    ]
    return Response(orjson.dumps(body), media_type=JSON)


def build_router() -> APIRouter:
    """Routes of the surface; the hot GETs are normally answered before routing (see gate)."""
    router = APIRouter(prefix="/api/v3", tags=["compat: ukrainealarm"])

    @router.get(
        "/alerts", summary="Regions with active alerts", **documented(list[UaRegion], 401, 403, 429)
    )
    async def alerts(request: Request) -> Response:
        return Response(render_alerts(request.app.state.model), media_type=JSON)

    @router.get(
        "/alerts/status", summary="The last-action index", **documented(UaStatus, 401, 403, 429)
    )
    async def status(request: Request) -> Response:
        return Response(render_status(request.app.state.model), media_type=JSON)

    @router.get(
        "/alerts/regionHistory",
        summary="The last 25 alarms of a region",
        **documented(list[UaRegionHistory], 401, 403, 404, 429),
    )
    async def history(request: Request, regionId: str | None = None) -> Response:
        return await region_history(request.app.state.model, regionId)

    @router.get(
        "/alerts/dateHistory",
        summary="Every alarm of one day (YYYYMMDD, Kyiv time)",
        **documented(list[UaAlarm], 400, 401, 403, 429),
    )
    async def by_date(request: Request, date: str | None = None) -> Response:
        return await date_history(request.app.state.model, date)

    @router.get(
        "/alerts/{region_id}",
        summary="One region, always a one-element array",
        **documented(list[UaRegion], 401, 403, 404, 429),
    )
    async def region(request: Request, region_id: str) -> Response:
        hub = request.app.state.model
        found = crosswalk(hub.catalogue).by_ua_id.get(region_id)
        if found is None:
            message = f"no region with regionId {region_id[:40]!r}"
            return compat_error(404, "unknown_region", message)
        return Response(render_region(hub, found.id), media_type=JSON)

    @router.get(
        "/regions",
        summary="The State → District → Community tree",
        **documented(UaTree, 401, 403, 429),
    )
    async def regions(request: Request) -> Response:
        return Response(render_regions(request.app.state.model), media_type=JSON)

    return router
