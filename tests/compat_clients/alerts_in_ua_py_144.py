"""alerts-in-ua.py 1.4.4 (`AlertsClient`, `AsyncAlertsClient`) against a live tryvoha hub.

Run inside its own venv (it shares the import name `alerts_in_ua` with the official client).
The client has no base-URL option: the least intrusive override is the instance's `_url`
attribute, set right after constructing.
"""

from __future__ import annotations

import asyncio
import os

import hubctl
from alerts_in_ua import AlertsClient, AsyncAlertsClient
from alerts_in_ua.exceptions import NotAuthorized

URL = hubctl.BASE + "/v1/alerts/active.json"


def make(kind, token: str):
    client = kind(os.environ["AIU_TOKEN"] if token is None else token)
    client._url = URL
    return client


async def maybe(result):
    return await result if asyncio.iscoroutine(result) else result


async def check(kind) -> None:
    hubctl.end_all()
    kharkiv = hubctl.declare("22")
    hromada = hubctl.declare("279", details=["drones"])
    client = make(kind, None)
    start = hubctl.mark()
    first = await maybe(client.get_active(force=True))
    seen = hubctl.requests_seen(start)
    assert seen[0]["if_modified_since"] == "" and seen[0]["status"] == 200, seen
    assert sorted(first.id) == sorted([kharkiv["id"], hromada["id"]])
    assert all(isinstance(uid, str) for uid in first.location_uid)
    assert sorted(first.location_uid) == ["22", "279"]
    assert len(first.filter(alert_type="air_raid")) == 2
    assert len(first.filter(location_type="oblast")) == 1
    assert first.get_location("22").location_title == "Харківська область"
    assert first.disclaimer and first.last_updated_at

    start = hubctl.mark()
    second = await maybe(client.get_active(force=True))
    seen = hubctl.requests_seen(start)
    assert [r["status"] for r in seen] == [304], seen
    assert second is first
    raw = await maybe(client.get_active_json(force=True))
    assert {a["id"] for a in raw["alerts"]} == set(first.id)

    picture = first.render_map()
    assert picture.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"

    hubctl.end(kharkiv["id"])
    fresh = make(kind, None)
    after = await maybe(fresh.get_active(force=True))
    assert after.location_uid == ["279"]
    try:
        await maybe(make(kind, "wrong").get_active(force=True))
    except NotAuthorized:
        pass
    else:
        raise AssertionError("a wrong token must raise NotAuthorized")
    hubctl.end_all()
    print(f"alerts-in-ua.py 1.4.4 {kind.__name__}: ok")


if __name__ == "__main__":
    asyncio.run(check(AlertsClient))
    asyncio.run(check(AsyncAlertsClient))
