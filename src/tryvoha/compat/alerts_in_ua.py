"""The alerts.in.ua API (`/v1/...`, `/v2/...`): active alerts, region history and the IoT strings.

Bodies follow what the clients parse: times as `…T…:…:….fffZ`, `meta.last_updated_at` as
`YYYY/MM/DD HH:MM:SS +0000`, IoT answers as quoted JSON strings of exact length, and every key
that `alerts-in-ua.py` reads without a default. Errors are `{"message": …}` (plus tryvoha's
`error` object), which the official client turns into its exception message.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from tryvoha.alerts.model import Alert, AlertStatus
from tryvoha.alerts.wire import iso
from tryvoha.compat.clock import ModifiedClock
from tryvoha.compat.errors import compat_error
from tryvoha.compat.ids import CITY_UIDS, Crosswalk, title_uk
from tryvoha.compat.levels import AIU_THREAT_TYPES, alert_level, detail_level
from tryvoha.compat.schemas import STRING, AiuAlerts, documented
from tryvoha.compat.snapshot import Snapshot, snapshot
from tryvoha.readmodel import ReadModel
from tryvoha.regions import Level, Region
from tryvoha.store import AlertQuery

DISCLAIMER = (
    "Served by a tryvoha hub in the format of the alerts.in.ua API. The data are this hub's "
    "alerts, not alerts.in.ua's."
)
PERIODS = {
    "day_ago": timedelta(days=1),
    "week_ago": timedelta(days=7),
    "month_ago": timedelta(days=30),
}
HISTORY_LIMIT = 10_000
JSON = "application/json"

ACTIVE = "alerts/active.json"
BY_OBLAST = "iot/active_air_raid_alerts_by_oblast.json"
ALL_LOCATIONS = "iot/active_air_raid_alerts.json"
ONE_LOCATION = "iot/active_air_raid_alerts/"
MAX_UID_DIGITS = 9


def location_type(region: Region, uid: int | None) -> str:
    if uid in CITY_UIDS:
        return "city"
    return {Level.OBLAST: "oblast", Level.RAION: "raion", Level.HROMADA: "hromada"}.get(
        region.level, "unknown"
    )


def alert_object(cw: Crosswalk, alert: Alert, region_id: str, threats: bool) -> dict[str, Any]:
    """One alert as alerts.in.ua shows it, at `region_id` (a target of the alert's region).

    A target above the alert's region (which has no uid, nor any region below it) is the place
    the alert is in part of: `location_uid` names that place, while the title, type and raion
    are the alert's own region's, so a client reads "an alert in part of uid N", as tryvoha's
    status (partial) and the IoT strings (`P`) say, never "all of uid N".
    """
    catalogue = cw.catalogue
    uid = cw.uid_of[region_id]
    if cw.covers(alert.region_id, region_id):
        region = catalogue.get(region_id)
        kind = location_type(region, uid)
    else:
        region = catalogue.get(alert.region_id)
        kind = location_type(region, None)
    oblast = catalogue.get(region.oblast_id) if region.oblast_id else region
    raion = catalogue.ancestor_at(region.id, Level.RAION) if region.level is Level.HROMADA else None
    doc: dict[str, Any] = {
        "id": alert.id,
        "location_title": title_uk(region),
        "location_type": kind,
        "started_at": iso(alert.started_at),
        "finished_at": iso(alert.ended_at),
        "updated_at": iso(alert.updated_at or alert.started_at),
        "alert_type": alert.threat.value,
        "location_oblast": title_uk(oblast),
        "location_uid": str(uid),
        "location_oblast_uid": cw.uid_of.get(oblast.id),
        "location_raion": title_uk(raion) if raion is not None else None,
        "notes": alert.notes,
        "country": None,
        "calculated": None if alert.ended_at is None else False,
        "location_title_en": region.label("en"),
        "alert_level": alert_level(alert),
    }
    if threats:
        doc["threats"] = [
            {
                "threat_type": AIU_THREAT_TYPES[d],
                "level": detail_level(d),
                "started_at": iso(alert.updated_at or alert.started_at),
                "source_message": None,
            }
            for d in alert.details
        ]
    return doc


def envelope(alerts: list[dict[str, Any]], clock: ModifiedClock) -> bytes:
    meta = {"last_updated_at": clock.meta_time(), "type": "full"}
    return orjson.dumps({"alerts": alerts, "meta": meta, "disclaimer": DISCLAIMER})


def render_active(hub: ReadModel, clock: ModifiedClock) -> bytes:
    snap = snapshot(hub)
    docs = [
        alert_object(snap.cw, alert, target, threats=True)
        for alert in snap.alerts
        for target in snap.cw.targets(alert.region_id, snap.cw.uid_of)
    ]
    return envelope(docs, clock)


def oblast_string(snap: Snapshot, levels: bool) -> str:
    return "".join(snap.air_char(r.id, levels) for r in snap.cw.oblast_regions())


def locations_string(snap: Snapshot, levels: bool) -> str:
    chars = [" "] * (snap.cw.max_uid + 1)
    for uid, region in snap.cw.by_uid.items():
        chars[uid] = snap.air_char(region.id, levels)
    return "".join(chars)


def render_by_oblast(hub: ReadModel, levels: bool) -> bytes:
    return orjson.dumps(oblast_string(snapshot(hub), levels))


def render_all_locations(hub: ReadModel, levels: bool) -> bytes:
    return orjson.dumps(locations_string(snapshot(hub), levels))


def render_location(hub: ReadModel, region_id: str, levels: bool) -> bytes:
    return orjson.dumps(snapshot(hub).air_char(region_id, levels))


MAX_UID_DIGITS = 9
"""Location uids are small integers; anything longer (or not ASCII digits) names no location."""


def parse_uid(cw: Crosswalk, text: str) -> Region | None:
    """The region of a uid as a path spells it: ASCII digits, leading zeros allowed."""
    digits = text.lstrip("0")
    if not text.isascii() or not text.isdigit() or len(digits) > MAX_UID_DIGITS:
        return None
    return cw.by_uid.get(int(digits or "0"))


async def history_body(
    hub: ReadModel, clock: ModifiedClock, uid_text: str, period: str
) -> Response:
    """Alerts of an oblast (with everything inside it and alerts above it) over a period."""
    snap = snapshot(hub)
    region = parse_uid(snap.cw, uid_text)
    if region is None:
        return compat_error(404, "unknown_location", f"no location with uid {uid_text[:40]!r}")
    if period not in PERIODS:
        known = ", ".join(PERIODS)
        return compat_error(400, "unknown_period", f"period {period[:40]!r} is not one of {known}")
    now = hub.clock()
    catalogue = hub.catalogue
    above = [r.id for r in catalogue.ancestors(region.id)]
    inside = [region.id, *(r.id for r in catalogue.descendants(region.id))]
    query = AlertQuery(
        region_ids=above + inside,
        statuses=frozenset({AlertStatus.ACTUAL}),
        since=now - PERIODS[period],
        limit=HISTORY_LIMIT,
    )
    found = await hub.query_alerts(query)
    docs = []
    for alert in sorted(found, key=lambda a: (a.started_at, a.id)):
        within = region.id if alert.region_id in above else None
        for target in snap.cw.targets(alert.region_id, snap.cw.uid_of, within=within):
            docs.append(alert_object(snap.cw, alert, target, threats=False))
    return Response(envelope(docs, clock), media_type=JSON)


def build_router(clock: ModifiedClock, prefix: str = "") -> APIRouter:
    """GET routes of the surface; the hot ones are normally answered before routing (see gate)."""
    router = APIRouter(prefix=prefix, tags=["compat: alerts.in.ua"])

    def _hub(request: Request) -> ReadModel:
        return request.app.state.model

    @router.get(
        "/v1/" + ACTIVE,
        summary="Active alerts (alerts.in.ua)",
        **documented(AiuAlerts, 401, 429),
    )
    async def active(request: Request) -> Response:
        return Response(render_active(_hub(request), clock), media_type=JSON)

    @router.get(
        "/v1/regions/{uid}/alerts/{period}.json",
        summary="History of an oblast",
        **documented(AiuAlerts, 400, 401, 404, 429),
    )
    async def history(request: Request, uid: str, period: str) -> Response:
        return await history_body(_hub(request), clock, uid, period)

    for version in (1, 2):
        _add_iot_routes(router, version)
    return router


def _add_iot_routes(router: APIRouter, version: int) -> None:
    levels = version == 2

    @router.get(
        f"/v{version}/{BY_OBLAST}",
        summary=f"Oblast string, v{version}",
        **documented(STRING, 401, 429),
    )
    async def by_oblast(request: Request) -> Response:
        return Response(render_by_oblast(request.app.state.model, levels), media_type=JSON)

    @router.get(
        f"/v{version}/{ALL_LOCATIONS}",
        summary=f"String by location uid, v{version}",
        **documented(STRING, 401, 429),
    )
    async def all_locations(request: Request) -> Response:
        return Response(render_all_locations(request.app.state.model, levels), media_type=JSON)

    @router.get(
        f"/v{version}/{ONE_LOCATION}" + "{uid}.json",
        summary=f"One location, v{version}",
        **documented(STRING, 401, 404, 429),
    )
    async def one_location(request: Request, uid: str) -> Response:
        hub = request.app.state.model
        region = parse_uid(snapshot(hub).cw, uid)
        if region is None:
            return compat_error(404, "unknown_location", f"no location with uid {uid[:40]!r}")
        return Response(render_location(hub, region.id, levels), media_type=JSON)
