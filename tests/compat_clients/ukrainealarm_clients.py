"""ukrainealarm 0.0.1 (keyed) and uasiren 0.0.1 (keyless, Home Assistant's) against a live hub.

Base URL: both clients read the class attribute `Client.BASE_PATH` on every request; it is set
before use, nothing else is touched.
"""

from __future__ import annotations

import asyncio
import os

import aiohttp
import hubctl
import uasiren.client
import ukrainealarm.client

KEY = os.environ["UA_KEY"]
LIMITED = os.environ["UA_LIMITED_KEY"]
ukrainealarm.client.Client.BASE_PATH = hubctl.BASE + "/api/v3"
uasiren.client.Client.BASE_PATH = hubctl.BASE + "/api/v3"


def air(record: dict) -> bool:
    return any(a["type"] == "AIR" for a in record["activeAlerts"])


async def keyed(session: aiohttp.ClientSession) -> None:
    hubctl.end_all()
    client = ukrainealarm.client.Client(session, KEY)
    index0 = (await client.get_last_alert_index())["lastActionIndex"]
    luhansk = hubctl.declare("16")
    hromada = hubctl.declare("279", threat="artillery_shelling")
    start = hubctl.mark()
    index1 = (await client.get_last_alert_index())["lastActionIndex"]
    assert index1 > index0
    assert hubctl.requests_seen(start)[0]["authorization"] == KEY  # raw key, no "Bearer"
    records = await client.get_alerts()
    by_id = {r["regionId"]: r for r in records}
    assert set(by_id) == {"16", "279"}
    assert air(by_id["16"]) and [a["type"] for a in by_id["279"]["activeAlerts"]] == ["ARTILLERY"]
    level = by_id["16"]["activeAlerts"][0]["activeAlertLevels"][0]
    assert level["alertLevel"] == "Red"
    one = await client.get_alerts("16")
    assert len(one) == 1 and air(one[0]) and one[0]["regionType"] == "State"
    district = await client.get_alerts(os.environ["UA_DISTRICT_IN_16"])
    assert len(district) == 1 and air(district[0])
    assert district[0]["activeAlerts"][0]["regionId"] == "16"  # declared for the oblast
    calm = await client.get_alerts("31")
    assert len(calm) == 1 and calm[0]["activeAlerts"] == []
    regions = await client.get_regions()
    states = {s["regionId"]: s for s in regions["states"]}
    assert states["16"]["regionChildIds"][0]["regionType"] == "District"
    hubctl.end(luhansk["id"])
    index2 = (await client.get_last_alert_index())["lastActionIndex"]
    assert index2 > index1 and air((await client.get_alerts("16"))[0]) is False
    hubctl.end(hromada["id"])

    try:
        await ukrainealarm.client.Client(session, "wrong").get_alerts()
    except aiohttp.ClientResponseError as exc:
        assert exc.status == 401
    else:
        raise AssertionError("a wrong key must be refused")
    limited = ukrainealarm.client.Client(session, LIMITED)
    try:
        for _ in range(1000):
            await limited.get_last_alert_index()
    except aiohttp.ClientResponseError as exc:
        assert exc.status == 429 and exc.headers["Retry-After"].isdigit()
    else:
        raise AssertionError("overload must be answered 429")
    print("ukrainealarm 0.0.1: ok")


async def keyless(session: aiohttp.ClientSession) -> None:
    hubctl.end_all()
    client = uasiren.client.Client(session)
    regions = await client.get_regions()  # what Home Assistant walks during setup
    assert len(regions["states"]) >= 25
    start = hubctl.mark()
    calm = await client.get_alerts("31")
    assert len(calm) == 1 and calm[0]["activeAlerts"] == []
    assert hubctl.requests_seen(start)[0]["authorization"] is None
    kyiv = hubctl.declare("31")
    alerts = await client.get_alerts("31")
    assert len(alerts) == 1 and [a["type"] for a in alerts[0]["activeAlerts"]] == ["AIR"]
    everything = await client.get_alerts()
    assert [r["regionId"] for r in everything] == ["31"]
    index = (await client.get_last_alert_index())["lastActionIndex"]
    hubctl.end(kyiv["id"])
    assert (await client.get_last_alert_index())["lastActionIndex"] > index
    assert (await client.get_alerts("31"))[0]["activeAlerts"] == []
    print("uasiren 0.0.1: ok")


async def main() -> None:
    async with aiohttp.ClientSession() as session:
        await keyed(session)
        await keyless(session)


if __name__ == "__main__":
    asyncio.run(main())
