"""The alerts.in.ua and ukrainealarm surfaces against tryvoha's own API, in process.

The consistency test drives a sequence of alerts and, after each step, checks every compatible
view against `/api/v1/status` and `/api/v1/alerts/active` (rendered by `tryvoha.views`).
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
import pytest
from fastapi import FastAPI

from tryvoha.api.app import create_app
from tryvoha.channels.webhooks import WebhookConfig
from tryvoha.compat.ids import CITY_UIDS, OBLAST_ORDER, crosswalk
from tryvoha.compat.ratelimit import RateLimiter
from tryvoha.compat.ukrainealarm import timespan
from tryvoha.config import Settings
from tryvoha.hub import Hub
from tryvoha.netguard import parse_networks
from tryvoha.regions import Catalogue, Level, Region, load_catalogue
from tryvoha.store import SqlStore, TokenRole

from .conftest import auth

KYIV = ZoneInfo("Europe/Kyiv")
KRYVYI_RIH_UA = "279"  # hromada in Dnipropetrovska oblast (ukrainealarm id = alerts.in.ua uid)


@pytest.fixture
async def compat_app(
    hub: Hub, settings: Settings
) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    app = create_app(hub, settings)
    config = app.state.compat.config
    config.aiu_per_minute = config.aiu_history_per_minute = config.ua_per_minute = 0
    config.keyless_per_5min = 0
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as c:
        yield c, app


@pytest.fixture
def api(compat_app: tuple[httpx.AsyncClient, FastAPI]) -> httpx.AsyncClient:
    return compat_app[0]


def api_hub(api: httpx.AsyncClient) -> Hub:
    return api._transport.app.state.hub  # type: ignore[attr-defined]


@pytest.fixture
def reader(hub: Hub) -> str:
    plain, _ = hub.store.create_token("compat-reader", None, role=TokenRole.READ_ONLY)
    return plain


async def declare(api: httpx.AsyncClient, token: str, region_id: str, **extra: Any) -> dict:
    body = {"region_id": region_id, "threat": "air_raid", **extra}
    r = await api.post("/api/v1/alerts", json=body, headers=auth(token))
    assert r.status_code == 201, r.text
    return r.json()["alert"]


async def end(api: httpx.AsyncClient, token: str, alert_id: int) -> None:
    r = await api.post(f"/api/v1/alerts/{alert_id}/end", json={}, headers=auth(token))
    assert r.status_code == 200, r.text


def level_of(alert: dict) -> str:
    return "yellow" if alert["details"] and set(alert["details"]) <= {"drones"} else "red"


def whole_type(region: Region, uid: int) -> str:
    """The `location_type` of an alert on all of uid's region."""
    return "city" if uid in CITY_UIDS else region.level.value


async def check_consistent(api: httpx.AsyncClient, token: str, catalogue: Catalogue) -> None:
    """Every compatible view agrees with tryvoha's own status and active alerts."""
    cw = crosswalk(catalogue)
    ours = (await api.get("/api/v1/status", params={"threat": "air_raid"})).json()
    status = {r["id"]: r["status"] for r in ours["regions"]}
    active = (await api.get("/api/v1/alerts/active")).json()["alerts"]
    air = [a for a in active if a["threat"] == "air_raid"]

    def covering(region_id: str) -> list[dict]:
        chain = {region_id, *(r.id for r in catalogue.ancestors(region_id))}
        return [a for a in air if a["region_id"] in chain]

    def expected(region_id: str, levels: bool) -> str:
        value = status[region_id]
        if value != "active":
            return "P" if value == "partial" else "N"
        if not levels:
            return "A"
        return "R" if any(level_of(a) == "red" for a in covering(region_id)) else "Y"

    h = auth(token)
    for version, levels in (("v1", False), ("v2", True)):
        by_oblast = (
            await api.get(f"/{version}/iot/active_air_raid_alerts_by_oblast.json", headers=h)
        ).json()
        assert by_oblast == "".join(expected(cw.by_uid[u].id, levels) for u in OBLAST_ORDER)
        full = (await api.get(f"/{version}/iot/active_air_raid_alerts.json", headers=h)).json()
        assert len(full) == cw.max_uid + 1
        for uid, char in enumerate(full):
            region = cw.by_uid.get(uid)
            assert char == (" " if region is None else expected(region.id, levels)), uid
        for uid in (*OBLAST_ORDER, int(KRYVYI_RIH_UA)):
            one = (
                await api.get(f"/{version}/iot/active_air_raid_alerts/{uid}.json", headers=h)
            ).json()
            assert one == expected(cw.by_uid[uid].id, levels)

    listed = (await api.get("/v1/alerts/active.json", headers=h)).json()["alerts"]
    assert {a["id"] for a in listed} == {a["id"] for a in active}
    covered: set[str] = set()
    for a in listed:
        if a["alert_type"] == "air_raid":
            uid = int(a["location_uid"])
            region = cw.by_uid[uid]
            if a["location_type"] == whole_type(region, uid):
                covered |= {region.id, *(r.id for r in catalogue.descendants(region.id))}
            else:  # an alert in part of the region (its own region has no uid)
                assert status[region.id] in ("partial", "active"), a
                assert a["location_type"] in ("raion", "hromada")
    assert {rid for rid in cw.uid_of if status[rid] == "active"} == covered & set(cw.uid_of)

    records = (await api.get("/api/v3/alerts")).json()
    for record in records:
        rid = cw.by_ua_id[record["regionId"]].id
        types = {e["type"] for e in record["activeAlerts"]}
        assert ("AIR" in types) == (status[rid] == "active")
    roots = {t for a in air for t in cw.whole_targets(a["region_id"], cw.ua_id_of)}
    assert roots <= {cw.by_ua_id[r["regionId"]].id for r in records}
    for rid in [r.id for r in catalogue.oblasts if r.id in cw.ua_id_of] + [
        cw.by_ua_id[KRYVYI_RIH_UA].id
    ]:
        one = (await api.get(f"/api/v3/alerts/{cw.ua_id_of[rid]}")).json()
        assert len(one) == 1
        types = {e["type"] for e in one[0]["activeAlerts"]}
        assert ("AIR" in types) == (status[rid] == "active"), rid


async def test_both_surfaces_agree_with_views_at_every_step(
    api: httpx.AsyncClient, admin_token: str, reader: str, catalogue: Catalogue
) -> None:
    cw = crosswalk(catalogue)
    kryvyi_rih = cw.by_ua_id[KRYVYI_RIH_UA]
    lviv = cw.by_uid[27]
    lviv_hromada = next(
        r
        for r in catalogue.descendants(lviv.id)
        if r.id in cw.ua_id_of and r.level is Level.HROMADA
    )
    kharkiv_raion = next(r for r in catalogue.children(cw.by_uid[22].id) if r.id in cw.ua_id_of)
    index = []

    async def step() -> None:
        await check_consistent(api, reader, catalogue)
        index.append((await api.get("/api/v3/alerts/status")).json()["lastActionIndex"])

    await step()
    a1 = await declare(api, admin_token, kryvyi_rih.id)
    await step()
    a2 = await declare(api, admin_token, kharkiv_raion.id, details=["drones"])
    await step()
    a3 = await declare(api, admin_token, lviv.id, details=["ballistic_missile"])
    await step()
    a4 = await declare(api, admin_token, lviv_hromada.id)
    await step()
    await end(api, admin_token, a3["id"])  # Lviv oblast becomes partial
    await step()
    drill = await declare(api, admin_token, cw.by_uid[31].id, status="exercise")
    art = await declare(api, admin_token, kryvyi_rih.id, threat="artillery_shelling")
    await step()
    # Regions with no id of their own nor below: shown in part of the region above them.
    without_ids = []
    for region_id in ("UA8000", "UA3200", catalogue.children(cw.by_uid[29].id)[0].id):
        without_ids.append(await declare(api, admin_token, region_id))
        await step()
    luhansk_hromada = catalogue.children(cw.by_uid[1801].id)[0]
    without_ids.append(await declare(api, admin_token, luhansk_hromada.id))
    await step()
    # The whole country waits for a second operator: while it waits, no surface shows it.
    body = {"region_id": catalogue.country.id, "threat": "air_raid", "details": ["drones"]}
    proposed = await api.post("/api/v1/alerts", json=body, headers=auth(admin_token))
    assert proposed.status_code == 202, proposed.text
    await step()
    assert not any(
        a["region_id"] == catalogue.country.id
        for a in (await api.get("/api/v1/alerts/active")).json()["alerts"]
    )
    second, _ = api_hub(api).store.create_token("second-operator", None)
    approval = await api.post(
        f"/api/v1/proposals/{proposed.json()['proposal']['id']}/approve", headers=auth(second)
    )
    assert approval.status_code == 201, approval.text
    (country,) = approval.json()["alerts"]
    await step()
    mistake = await declare(api, admin_token, cw.by_uid[31].id)
    await step()
    retracted = await api.post(
        f"/api/v1/alerts/{mistake['id']}/retract",
        json={"reason": "wrong oblast"},
        headers=auth(admin_token),
    )
    assert retracted.status_code == 200, retracted.text
    await step()  # dropped everywhere, as an end would be
    for alert in (country, a1, a2, a4, drill, art, *without_ids):
        await end(api, admin_token, alert["id"])
        await step()
    assert index == sorted(index) and len(set(index)) == len(index)


async def test_alerts_on_regions_without_an_id(
    api: httpx.AsyncClient, admin_token: str, reader: str, catalogue: Catalogue
) -> None:
    """Kyiv's pseudo-raion and a Crimean raion have no id on either surface, nor anything below.

    alerts.in.ua lists each alert at the nearest uid above, typed as the raion it is, and its
    IoT strings show that place as partly alerted, as tryvoha's own status does; ukrainealarm
    cannot say "in part of", so it lists neither rather than call all of Kyiv or Crimea alerted.
    """
    cw = crosswalk(catalogue)
    h = auth(reader)
    crimean_raion = catalogue.children(cw.by_uid[29].id)[0]
    kyiv = await declare(api, admin_token, "UA8000")
    crimea = await declare(api, admin_token, crimean_raion.id, details=["drones"])

    listed = (await api.get("/v1/alerts/active.json", headers=h)).json()["alerts"]
    by_id = {a["id"]: a for a in listed}
    assert set(by_id) == {kyiv["id"], crimea["id"]}
    assert by_id[kyiv["id"]]["location_uid"] == "31"
    assert by_id[kyiv["id"]]["location_type"] == "raion"
    assert by_id[kyiv["id"]]["location_oblast_uid"] == 31
    assert by_id[crimea["id"]]["location_uid"] == "29"
    assert by_id[crimea["id"]]["location_type"] == "raion"
    assert by_id[crimea["id"]]["location_title"] == crimean_raion.label("uk")
    assert by_id[crimea["id"]]["location_oblast_uid"] == 29
    one = await api.get("/v1/regions/29/alerts/day_ago.json", headers=h)
    assert [a["id"] for a in one.json()["alerts"]] == [crimea["id"]]

    ours = (await api.get("/api/v1/status", params={"threat": "air_raid"})).json()
    status = {r["id"]: r["status"] for r in ours["regions"]}
    assert status[cw.by_uid[31].id] == status[cw.by_uid[29].id] == "partial"
    oblasts = (await api.get("/v2/iot/active_air_raid_alerts_by_oblast.json", headers=h)).json()
    assert oblasts[OBLAST_ORDER.index(31)] == oblasts[OBLAST_ORDER.index(29)] == "P"
    for uid in (29, 31):
        char = (await api.get(f"/v1/iot/active_air_raid_alerts/{uid}.json", headers=h)).json()
        assert char == "P"

    assert (await api.get("/api/v3/alerts")).json() == []
    for ua_id in ("31", "9999"):
        (record,) = (await api.get(f"/api/v3/alerts/{ua_id}")).json()
        assert record["activeAlerts"] == []
    await check_consistent(api, reader, catalogue)


async def test_iot_bodies_headers_and_exact_304(api: httpx.AsyncClient, reader: str) -> None:
    h = auth(reader)
    r = await api.get("/v1/iot/active_air_raid_alerts_by_oblast.json", headers=h)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert len(r.content) == 29 and r.content.startswith(b'"') and r.content.endswith(b'"')
    modified = r.headers["last-modified"]
    same = await api.get(r.url, headers={**h, "If-Modified-Since": modified})
    assert same.status_code == 304 and same.content == b""
    empty = await api.get(r.url, headers={**h, "If-Modified-Since": ""})
    assert empty.status_code == 200
    later = parsedate_to_datetime(modified) + timedelta(seconds=5)
    other = await api.get(
        r.url, headers={**h, "If-Modified-Since": later.strftime("%a, %d %b %Y %H:%M:%S GMT")}
    )
    assert other.status_code == 200, "only an exact match is a 304"
    one = await api.get("/v2/iot/active_air_raid_alerts/31.json", headers=h)
    assert one.content == b'"N"' and "last-modified" in one.headers
    missing = await api.get("/v1/iot/active_air_raid_alerts/99999.json", headers=h)
    assert missing.status_code == 404 and "message" in missing.json()


async def test_last_modified_changes_with_every_event(
    api: httpx.AsyncClient, admin_token: str, reader: str, catalogue: Catalogue
) -> None:
    h = auth(reader)
    cw = crosswalk(catalogue)
    seen = []
    for uid in (4, 8, 9):
        r = await api.get("/v1/alerts/active.json", headers=h)
        seen.append(r.headers["last-modified"])
        meta = r.json()["meta"]["last_updated_at"]
        assert datetime.strptime(meta, "%Y/%m/%d %H:%M:%S %z") == parsedate_to_datetime(seen[-1])
        await declare(api, admin_token, cw.by_uid[uid].id)  # all within about one second
    r = await api.get("/v1/alerts/active.json", headers={**h, "If-Modified-Since": seen[-1]})
    assert r.status_code == 200
    seen.append(r.headers["last-modified"])
    times = [parsedate_to_datetime(s) for s in seen]
    assert times == sorted(times) and len(set(times)) == len(times)


async def test_active_alert_object_fields(
    api: httpx.AsyncClient, admin_token: str, reader: str, catalogue: Catalogue
) -> None:
    cw = crosswalk(catalogue)
    hromada = cw.by_ua_id[KRYVYI_RIH_UA]
    alert = await declare(
        api, admin_token, hromada.id, details=["drones", "cruise_missile"], notes="n"
    )
    body = (await api.get("/v1/alerts/active.json", headers=auth(reader))).json()
    assert isinstance(body["disclaimer"], str) and body["meta"]["type"] == "full"
    (doc,) = body["alerts"]
    assert doc["id"] == alert["id"] and doc["location_uid"] == KRYVYI_RIH_UA
    assert doc["location_type"] == "hromada" and doc["location_oblast_uid"] == 9
    assert doc["location_oblast"] == "Дніпропетровська область"
    assert doc["location_raion"].endswith("район") and doc["notes"] == "n"
    assert doc["finished_at"] is None and doc["calculated"] is None
    for key in ("started_at", "updated_at"):
        datetime.strptime(doc[key], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert doc["alert_level"] == "red"
    assert {t["threat_type"]: t["level"] for t in doc["threats"]} == {
        "drones": "yellow",
        "cruise_missiles": "red",
    }


async def test_history_periods_and_errors(
    api: httpx.AsyncClient, admin_token: str, reader: str, catalogue: Catalogue
) -> None:
    cw = crosswalk(catalogue)
    h = auth(reader)
    inside = await declare(api, admin_token, cw.by_ua_id[KRYVYI_RIH_UA].id)
    await end(api, admin_token, inside["id"])
    elsewhere = await declare(api, admin_token, cw.by_uid[27].id)
    for period in ("day_ago", "week_ago", "month_ago"):
        r = await api.get(f"/v1/regions/9/alerts/{period}.json", headers=h)
        assert r.status_code == 200 and "last-modified" in r.headers
        body = r.json()
        assert [a["id"] for a in body["alerts"]] == [inside["id"]]
        assert body["alerts"][0]["finished_at"] is not None and "meta" in body
        assert "threats" not in body["alerts"][0]
    again = await api.get(
        "/v1/regions/9/alerts/day_ago.json",
        headers={**h, "If-Modified-Since": r.headers["last-modified"]},
    )
    assert again.status_code == 304
    bad = await api.get("/v1/regions/9/alerts/year_ago.json", headers=h)
    assert bad.status_code == 400 and "year_ago" in bad.json()["message"]
    unknown = await api.get("/v1/regions/Unknown UID/alerts/month_ago.json", headers=h)
    assert unknown.status_code == 404 and "message" in unknown.json()
    assert elsewhere["id"] not in [a["id"] for a in r.json()["alerts"]]


async def test_ukrainealarm_history_and_date_history(
    api: httpx.AsyncClient, admin_token: str, catalogue: Catalogue
) -> None:
    cw = crosswalk(catalogue)
    oblast = cw.by_uid[9]
    hromada = cw.by_ua_id[KRYVYI_RIH_UA]
    first = await declare(api, admin_token, oblast.id)
    await end(api, admin_token, first["id"])
    second = await declare(api, admin_token, hromada.id, threat="artillery_shelling")
    r = await api.get("/api/v3/alerts/regionHistory", params={"regionId": KRYVYI_RIH_UA})
    (entry,) = r.json()
    assert entry["regionId"] == KRYVYI_RIH_UA
    alarms = {a["alertType"]: a for a in entry["alarms"]}
    assert set(alarms) == {"AIR", "ARTILLERY"}
    assert alarms["AIR"]["isContinue"] is False and alarms["ARTILLERY"]["isContinue"] is True
    start = datetime.fromisoformat(alarms["AIR"]["startDate"])
    stop = datetime.fromisoformat(alarms["AIR"]["endDate"])
    assert alarms["AIR"]["duration"] == timespan(stop - start)
    for region_id, alarm in (("9", alarms["AIR"]), (KRYVYI_RIH_UA, alarms["ARTILLERY"])):
        day = kyiv_day(alarm["startDate"])  # the endpoint's day is a Kyiv calendar day
        listed = (await api.get("/api/v3/alerts/dateHistory", params={"date": day})).json()
        assert (region_id, alarm["alertType"]) in {(a["regionId"], a["alertType"]) for a in listed}
    assert alarms["ARTILLERY"]["startDate"] == second["started_at"]  # the running one is `second`
    assert alarms["AIR"]["startDate"] == first["started_at"]
    for bad in ("2024-01-01", "20241301", ""):
        r = await api.get("/api/v3/alerts/dateHistory", params={"date": bad})
        assert r.status_code == 400
    r = await api.get("/api/v3/alerts/regionHistory", params={"regionId": "nope"})
    assert r.status_code == 404


def kyiv_day(stamp: str) -> str:
    """YYYYMMDD of the Kyiv calendar day holding an ISO time."""
    return datetime.fromisoformat(stamp).astimezone(KYIV).strftime("%Y%m%d")


async def test_date_history_reads_a_kyiv_day(
    catalogue: Catalogue, sqlite_url: str, settings: Settings
) -> None:
    """At 23:30 UTC it is already the next day in Kyiv: an alarm then belongs to that day."""
    now = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)
    hub = Hub(catalogue, SqlStore(sqlite_url), clock=lambda: now)
    hub.load()
    admin, _ = hub.store.create_token("admin", None)
    app = create_app(hub, settings)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://hub"
        ) as api:
            alert = await declare(api, admin, crosswalk(catalogue).by_uid[9].id)
            await end(api, admin, alert["id"])

            async def regions_on(day: str) -> list[str]:
                r = await api.get("/api/v3/alerts/dateHistory", params={"date": day})
                assert r.status_code == 200
                return [a["regionId"] for a in r.json()]

            assert await regions_on("20261202") == ["9"]
            assert await regions_on("20261201") == []
            # A running alarm lasts until the hub's clock says now, not the machine's.
            await declare(api, admin, crosswalk(catalogue).by_uid[4].id)
            r = await api.get("/api/v3/alerts/regionHistory", params={"regionId": "4"})
            (running,) = [a for a in r.json()[0]["alarms"] if a["isContinue"]]
            assert running["endDate"] == running["startDate"] and running["duration"] == "00:00:00"
    finally:
        hub.close()


async def test_alarm_duration_is_exact_to_the_millisecond(
    api: httpx.AsyncClient, admin_token: str, catalogue: Catalogue
) -> None:
    """An alarm of 4 min 16.229 s reads exactly that, not 16.2289990 (float seconds)."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    stop = start + timedelta(minutes=4, seconds=16, milliseconds=229)
    alert = await declare(
        api, admin_token, crosswalk(catalogue).by_uid[9].id, occurred_at=start.isoformat()
    )
    r = await api.post(
        f"/api/v1/alerts/{alert['id']}/end",
        json={"occurred_at": stop.isoformat()},
        headers=auth(admin_token),
    )
    assert r.status_code == 200, r.text
    r = await api.get("/api/v3/alerts/regionHistory", params={"regionId": "9"})
    (alarm,) = r.json()[0]["alarms"]
    assert alarm["duration"] == "00:04:16.2290000"


def test_timespan_format() -> None:
    assert timespan(timedelta(minutes=45, seconds=12)) == "00:45:12"
    assert timespan(timedelta(days=1, hours=2, minutes=3, seconds=4.5)) == "1.02:03:04.5000000"


async def test_regions_tree(api: httpx.AsyncClient, catalogue: Catalogue) -> None:
    cw = crosswalk(catalogue)
    r = await api.get("/api/v3/regions")
    assert r.headers["content-type"] == "application/json"
    states = r.json()["states"]
    counts: dict[str, int] = {}

    def walk(node: dict, depth: int) -> None:
        counts[node["regionType"]] = counts.get(node["regionType"], 0) + 1
        assert node["regionType"] == ("State", "District", "Community")[depth]
        for child in node["regionChildIds"]:
            region = cw.by_ua_id[child["regionId"]]
            assert catalogue.is_within(region.id, cw.by_ua_id[node["regionId"]].id)
            walk(child, depth + 1)

    for state in states:
        walk(state, 0)
    levels = {Level.OBLAST: "State", Level.RAION: "District", Level.HROMADA: "Community"}
    expected: dict[str, int] = {}
    for rid in cw.ua_id_of:
        name = levels[catalogue.get(rid).level]
        expected[name] = expected.get(name, 0) + 1
    assert counts == expected
    assert any(s["regionId"] == "9999" for s in states)  # Crimea, as ukrainealarm names it


async def test_region_alerts_always_one_element_and_404(api: httpx.AsyncClient) -> None:
    r = await api.get("/api/v3/alerts/31")
    assert r.status_code == 200
    (record,) = r.json()
    assert record["regionId"] == "31" and record["activeAlerts"] == []
    assert record["regionType"] == "State" and record["regionName"] == "м. Київ"
    assert (await api.get("/api/v3/alerts/123456")).status_code == 404
    assert (await api.get("/api/v3/alerts/0031")).status_code == 404, "ukrainealarm ids are exact"


async def test_ukrainealarm_views_carry_tryvoha_validators(api: httpx.AsyncClient) -> None:
    """The hot views (answered before routing) carry the same validators as the routed ones."""
    for path in ("/api/v3/alerts", "/api/v3/alerts/31", "/api/v3/alerts/status", "/api/v3/regions"):
        for _ in range(3):  # the two answers must not straddle a second boundary
            started = int(time.time())
            r = await api.get(path)
            ours = await api.get("/api/v1/regions/UA")
            if int(time.time()) == started:
                break
        assert (
            r.headers["etag"] == '"' + hashlib.blake2b(r.content, digest_size=12).hexdigest() + '"'
        )
        assert r.headers["last-modified"] == ours.headers["last-modified"]
        assert r.headers["cache-control"] == "no-cache"
        again = await api.get(path, headers={"If-None-Match": r.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
    for _ in range(3):  # again within one second: Last-Modified moves on with the clock
        started = int(time.time())
        history = await api.get("/api/v3/alerts/regionHistory", params={"regionId": "31"})
        ours = await api.get("/api/v1/regions/UA")
        if int(time.time()) == started:
            break
    assert history.headers["last-modified"] == ours.headers["last-modified"]


async def test_one_cached_body_per_region_whatever_the_spelling(
    compat_app: tuple[httpx.AsyncClient, FastAPI], reader: str
) -> None:
    api, app = compat_app
    bodies = app.state.compat.bodies
    first = await api.get("/v1/iot/active_air_raid_alerts/31.json", headers=auth(reader))
    held = len(bodies)
    for spelling in ("031", "0031", "00000031"):
        r = await api.get(f"/v1/iot/active_air_raid_alerts/{spelling}.json", headers=auth(reader))
        assert r.status_code == 200 and r.content == first.content
    assert len(bodies) == held
    for junk in ("٣١", "3" * 5000, "-31", "+31", "31 ", "1e3", "0x1f"):
        r = await api.get(f"/v1/iot/active_air_raid_alerts/{junk}.json", headers=auth(reader))
        assert r.status_code == 404 and "message" in r.json()
        r = await api.get(f"/v1/regions/{junk}/alerts/day_ago.json", headers=auth(reader))
        assert r.status_code == 404 and "message" in r.json()
    assert len(bodies) == held
    for n in range(300):  # without a key, nothing is cached, whatever the path
        r = await api.get(f"/v1/iot/active_air_raid_alerts/{n}.json")
        assert r.status_code == 401
        r = await api.get(f"/api/v3/alerts/{n}", headers={"Authorization": "tv_junk"})
        assert r.status_code == 401
    assert len(bodies) == held


async def test_keys_and_keyless_mode(
    compat_app: tuple[httpx.AsyncClient, FastAPI], reader: str, hub: Hub
) -> None:
    api, app = compat_app
    path = "/v1/iot/active_air_raid_alerts_by_oblast.json"
    r = await api.get(path)
    assert r.status_code == 401 and "message" in r.json() and "error" in r.json()
    assert (await api.get(path, headers=auth("wrong"))).status_code == 401
    assert (await api.get(path, params={"token": reader})).status_code == 200
    assert (await api.get(path, headers=auth(reader))).status_code == 200
    assert (await api.get("/api/v3/alerts/31")).status_code == 200  # keyless
    assert (
        await api.get("/api/v3/alerts/31", headers={"Authorization": reader})
    ).status_code == 200
    assert (await api.get("/api/v3/alerts/31", headers={"Authorization": "bad"})).status_code == 401
    app.state.compat.config.keyless = False
    assert (await api.get("/api/v3/alerts/31")).status_code == 403
    hub.store.revoke_token("compat-reader")
    app.state.compat.keys.forget()
    assert (await api.get(path, headers=auth(reader))).status_code == 401


async def test_rate_limits_answer_429_with_retry_after(
    compat_app: tuple[httpx.AsyncClient, FastAPI], reader: str
) -> None:
    api, app = compat_app
    config = app.state.compat.config
    config.aiu_per_minute, config.aiu_history_per_minute, config.ua_per_minute = 12, 2, 3
    path = "/v1/iot/active_air_raid_alerts_by_oblast.json"
    codes = [(await api.get(path, headers=auth(reader))).status_code for _ in range(13)]
    assert codes == [200] * 12 + [429]
    r = await api.get(path, headers=auth(reader))
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1 and "message" in r.json()
    history = [
        (await api.get("/v1/regions/9/alerts/day_ago.json", headers=auth(reader))).status_code
        for _ in range(3)
    ]
    assert history == [200, 200, 429]
    keyed = [
        (await api.get("/api/v3/alerts/status", headers={"Authorization": reader})).status_code
        for _ in range(4)
    ]
    assert keyed == [200, 200, 200, 429]


class HandClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_keyless_limits_honour_retry_after_and_survive_a_flood_of_addresses(
    compat_app: tuple[httpx.AsyncClient, FastAPI],
) -> None:
    """At 4 requests per 5 minutes, waiting exactly the Retry-After told is enough; and a flood
    of requests from fresh addresses does not give a limited address a new allowance."""
    _, app = compat_app
    clock = HandClock()
    app.state.compat.limiter = RateLimiter(clock=clock, max_keys=50)
    app.state.compat.config.keyless_per_5min = 4

    def client(ip: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(ip, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://hub")

    path = "/api/v3/alerts/status"
    async with client("203.0.113.7") as me:
        assert [(await me.get(path)).status_code for _ in range(2)] == [200, 200]
        clock.now += 1
        assert [(await me.get(path)).status_code for _ in range(2)] == [200, 200]
        refused = await me.get(path)
        assert refused.status_code == 429 and refused.headers["retry-after"] == "74"
        for i in range(200):
            async with client(f"198.51.100.{i}") as other:
                assert (await other.get(path)).status_code == 200
        assert (await me.get(path)).headers["retry-after"] == "74"
        clock.now += 74
        assert (await me.get(path)).status_code == 200
        assert (await me.get(path)).status_code == 429


async def test_last_action_index_and_last_modified_survive_restart(
    catalogue: Catalogue, sqlite_url: str, settings: Settings
) -> None:
    async def read(hub: Hub) -> tuple[int, str]:
        app = create_app(hub, settings)
        token, _ = hub.store.create_token(f"reader-{id(app)}", [])
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://h"
        ) as c:
            index = (await c.get("/api/v3/alerts/status")).json()["lastActionIndex"]
            modified = (await c.get("/v1/alerts/active.json", headers=auth(token))).headers[
                "last-modified"
            ]
        return index, modified

    hub = Hub(catalogue, SqlStore(sqlite_url))
    hub.load()
    admin, _ = hub.store.create_token("admin", None)
    app = create_app(hub, settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://h") as c:
        for uid in (4, 8, 9):
            r = await c.post(
                "/api/v1/alerts",
                json={"region_id": crosswalk(catalogue).by_uid[uid].id, "threat": "air_raid"},
                headers=auth(admin),
            )
            assert r.status_code == 201
    before = await read(hub)
    hub.close()
    hub = Hub(catalogue, SqlStore(sqlite_url))
    hub.load()
    after = await read(hub)
    hub.close()
    assert after[0] == before[0] == 3
    assert after[1] == before[1], "same log, same Last-Modified: a client's copy stays valid"


async def test_webhook_subscription_endpoints(
    compat_app: tuple[httpx.AsyncClient, FastAPI], reader: str, hub: Hub
) -> None:
    api, app = compat_app
    key = {"Authorization": reader}
    body = {"webHookUrl": "http://127.0.0.1:9/hook"}
    refused = await api.post("/api/v3/webhook", json=body, headers=key)
    assert refused.status_code == 422
    assert refused.json()["error"] == {
        "code": "destination_not_allowed",
        "message": "webHookUrl: address 127.0.0.1 is loopback",
    }
    store = app.state.compat_webhooks.store
    assert store.all() == []
    # A deployment whose receivers live on loopback says so.
    loopback = WebhookConfig(allow_networks=parse_networks("127.0.0.0/8"))
    app.state.settings = replace(app.state.settings, webhooks=loopback)
    assert (await api.post("/api/v3/webhook", json=body)).status_code == 401
    assert (await api.patch("/api/v3/webhook", json=body, headers=key)).status_code == 404
    r = await api.post("/api/v3/webhook", json=body, headers=key)
    assert r.status_code == 200 and r.json() == body
    bad = await api.post("/api/v3/webhook", json={"webHookUrl": "ftp://x"}, headers=key)
    assert bad.status_code == 400 and "webHookUrl" in bad.json()["error"]["message"]
    inside = await api.patch(
        "/api/v3/webhook", json={"webHookUrl": "http://10.0.0.5/hook"}, headers=key
    )
    assert inside.status_code == 422 and "10.0.0.5 is in a private network" in inside.text
    moved = {"webHookUrl": "http://127.0.0.1:9/other"}
    assert (await api.patch("/api/v3/webhook", json=moved, headers=key)).status_code == 200
    assert [h.url for h in store.all()] == [moved["webHookUrl"]]
    # One subscription per key: subscribing again replaces it.
    again = {"webHookUrl": "http://127.0.0.2:9/again"}
    assert (await api.post("/api/v3/webhook", json=again, headers=key)).status_code == 200
    assert [h.url for h in store.all()] == [again["webHookUrl"]]
    assert (await api.delete("/api/v3/webhook", headers=key)).status_code == 200
    assert store.all() == []
    assert (await api.delete("/api/v3/webhook", headers=key)).status_code == 404


def test_crosswalk_covers_catalogue_ids() -> None:
    catalogue = load_catalogue()
    cw = crosswalk(catalogue)
    assert sorted(OBLAST_ORDER) == sorted(r.alerts_in_ua_uid for r in catalogue.oblasts)
    for region in catalogue:
        if region.alerts_in_ua_uid is not None:
            assert cw.uid_of[region.id] == region.alerts_in_ua_uid
        if region.ukrainealarm_id is not None:
            assert cw.ua_id_of[region.id] == region.ukrainealarm_id
    assert orjson.dumps(cw.max_uid) == b"1804"


async def test_alerts_in_ua_surface_under_a_prefix(
    hub: Hub, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRYVOHA_COMPAT_PREFIX", "aiu/")
    app = create_app(hub, Settings.from_env(db=settings.db, load_history=False))
    token, _ = hub.store.create_token("prefixed", [])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://h") as c:
        moved = await c.get(
            "/aiu/v1/iot/active_air_raid_alerts_by_oblast.json", headers=auth(token)
        )
        assert moved.status_code == 200 and len(moved.json()) == 27
        history = await c.get("/aiu/v1/regions/16/alerts/week_ago.json", headers=auth(token))
        assert history.status_code == 200 and "last-modified" in history.headers
        assert (await c.get("/v1/iot/active_air_raid_alerts_by_oblast.json")).status_code == 404


async def test_compat_webhooks_continue_where_the_last_sender_stopped(
    catalogue: Catalogue, sqlite_url: str
) -> None:
    """A change committed while no sender ran (a writer's crash before a takeover) is posted by
    the next one, and what the last one tried is not posted again."""
    from tryvoha.alerts.commands import Actor, Declare
    from tryvoha.alerts.model import Threat
    from tryvoha.channels.webhooks.receiver import Receiver

    receiver = Receiver()
    await receiver.start()
    loopback = WebhookConfig(allow_networks=parse_networks("127.0.0.0/8"))
    settings = Settings(db=sqlite_url, load_history=False, mqtt=None, webhooks=loopback)
    cw = crosswalk(catalogue)
    first, missed, last = (cw.by_uid[uid].id for uid in (4, 8, 9))

    @contextlib.asynccontextmanager
    async def serving() -> AsyncIterator[tuple[Hub, httpx.AsyncClient]]:
        hub = Hub(catalogue, SqlStore(sqlite_url))
        hub.load()
        app = create_app(hub, settings)
        try:
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://h") as c:
                    yield hub, c
        finally:
            hub.close()

    def region_ids() -> list[str]:
        return [orjson.loads(r.body)["regionId"] for r in receiver.received]

    try:
        async with serving() as (hub, api):
            key, _ = hub.store.create_token("bot", None)
            body = {"webHookUrl": receiver.url}
            assert (
                await api.post("/api/v3/webhook", json=body, headers={"Authorization": key})
            ).status_code == 200
            await hub.submit(Declare(first, Threat.AIR_RAID), Actor("test"))
            await receiver.wait_for(lambda r: len(r.received) == 1)
        offline = Hub(catalogue, SqlStore(sqlite_url))  # no app, no sender: as before a takeover
        offline.load()
        await offline.submit(Declare(missed, Threat.AIR_RAID), Actor("test"))
        offline.close()
        async with serving() as (hub, api):
            await hub.submit(Declare(last, Threat.AIR_RAID), Actor("test"))
            await receiver.wait_for(lambda r: len(r.received) >= 3)
        expected = [cw.ua_id_of[region] for region in (first, missed, last)]
        assert sorted(region_ids()) == sorted(expected)  # each once, none skipped
    finally:
        await receiver.stop()
