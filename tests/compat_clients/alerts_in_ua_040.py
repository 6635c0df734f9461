"""alerts-in-ua 0.4.0 (sync `Client` and `AsyncClient`) against a live tryvoha hub.

Run inside a venv with that package. Base URL: `API_BASE_URL` is set on the class before
constructing (sync) or before each request (async): both are the client's own documented
attributes, so no internals are touched.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import sys

import hubctl
from alerts_in_ua import AsyncClient, Client
from alerts_in_ua.errors import (
    ForbiddenError,
    InternalServerError,
    RateLimitError,
    UnauthorizedError,
)

MODE = sys.argv[1]  # "sync" or "async"
TOKEN = os.environ["AIU_TOKEN"]
LIMITED = os.environ["AIU_LIMITED_TOKEN"]
Client.API_BASE_URL = AsyncClient.API_BASE_URL = hubctl.BASE


def make(token: str):
    return Client(token) if MODE == "sync" else AsyncClient(token)


def run(result):
    return asyncio.run(result) if inspect.iscoroutine(result) else result


def raises(kind, call) -> str:
    try:
        run(call())
    except kind as exc:
        return str(exc)
    raise AssertionError(f"expected {kind.__name__}")


def main() -> None:
    hubctl.end_all()
    ended = hubctl.declare("1801")  # a Luhansk raion, then ended: history only
    hubctl.end(ended["id"])
    luhansk = hubctl.declare("16", details=["ballistic_missile"])
    kyiv = hubctl.declare("31", details=["drones"])
    client = make(TOKEN)

    start = hubctl.mark()
    alerts = run(client.get_active_alerts(use_cache=False))
    assert sorted(a.id for a in alerts) == sorted([luhansk["id"], kyiv["id"]])
    assert alerts.get_last_updated_at() is not None and alerts.get_disclaimer()
    by_uid = {a.location_uid: a for a in alerts}
    assert by_uid["16"].alert_level == "red" and by_uid["31"].alert_level == "yellow"
    assert [t.threat_type for t in by_uid["16"].threats] == ["ballistic_missiles"]
    assert [t.threat_type for t in by_uid["31"].threats] == ["drones"]
    assert by_uid["31"].location_type == "city" and by_uid["16"].location_type == "oblast"
    assert by_uid["16"].started_at.tzinfo is not None and by_uid["16"].finished_at is None
    seen = hubctl.requests_seen(start)
    assert seen[0]["authorization"] == f"Bearer {TOKEN}", seen

    for _ in range(2):  # unchanged: one conditional request each, answered 304
        start = hubctl.mark()
        again = run(client.get_active_alerts())
        seen = [r for r in hubctl.requests_seen(start) if not r["path"].startswith("/api/")]
        assert [r["status"] for r in seen] == [304], seen
        assert seen[0]["if_modified_since"], seen
        assert sorted(a.id for a in again) == sorted(a.id for a in alerts)

    hromada = hubctl.declare("279")
    changed = run(client.get_active_alerts())
    assert hromada["id"] in [a.id for a in changed] and len(changed) == 3
    assert next(a for a in changed if a.id == hromada["id"]).location_type == "hromada"

    expected = hubctl.history_ids("16")
    assert ended["id"] in expected and luhansk["id"] in expected
    for who, period in ((16, "week_ago"), ("Луганська область", "month_ago"), (16, "day_ago")):
        history = run(client.get_alerts_history(who, period))
        assert {a.id for a in history} == expected, (who, period)
        finished = next(a for a in history if a.id == ended["id"])
        assert finished.is_finished() and finished.location_type == "raion"
        assert history.get_last_updated_at() is not None

    for levels in (False, True):
        statuses = run(client.get_air_raid_alert_statuses(include_alert_level=levels))
        assert len(statuses) == len(hubctl.IDS)  # one per assigned uid, spaces skipped
        for uid, key in ((16, "16"), (31, "31"), (9, "9"), (279, "279"), (4, "4")):
            want = {"active": "active", "partial": "partly", "none": "no_alert"}[hubctl.status(key)]
            assert statuses.get_status(uid).status == want, (uid, want)
        if levels:
            assert statuses.get_status(16).alert_level == "red"
            assert statuses.get_status(31).alert_level == "yellow"
        else:
            assert statuses.get_status(16).alert_level is None

    oblasts = run(client.get_air_raid_alert_statuses_by_oblast())
    assert len(oblasts) == 27
    titles = {s.location_title: s.status for s in oblasts}
    assert (
        titles["Луганська область"] == "active" and titles["Дніпропетровська область"] == "partly"
    )
    assert titles["Вінницька область"] == "no_alert"
    only = run(client.get_air_raid_alert_statuses_by_oblast(oblast_level_only=True))
    assert {s.location_title: s.status for s in only}["Дніпропетровська область"] == "no_alert"
    levelled = run(client.get_air_raid_alert_statuses_by_oblast(include_alert_level=True))
    assert [s.location_title for s in levelled.get_yellow_alert_oblasts()] == ["м. Київ"]
    assert [s.location_title for s in levelled.get_red_alert_oblasts()] == ["Луганська область"]

    one = run(client.get_air_raid_alert_status(16))
    assert one.status == "active" and one.alert_level is None
    kyiv_status = run(client.get_air_raid_alert_status("м. Київ", include_alert_level=True))
    assert kyiv_status.status == "active" and kyiv_status.alert_level == "yellow"
    hubctl.end(kyiv["id"])
    assert (
        run(client.get_air_raid_alert_status("м. Київ", include_alert_level=True)).status
        == "no_alert"
    )

    assert "HTTP Code:401" in raises(UnauthorizedError, lambda: make("wrong").get_active_alerts())
    raises(ForbiddenError, lambda: make("fault-403").get_active_alerts())
    raises(InternalServerError, lambda: make("fault-500").get_active_alerts())
    limited = make(LIMITED)
    message = raises(
        RateLimitError,
        lambda: _until_error(limited),
    )
    assert "HTTP Code:429" in message
    hubctl.end_all()
    print(f"alerts-in-ua 0.4.0 {MODE}: ok")


async def _poll_async(client) -> None:
    for _ in range(1000):
        await client.get_air_raid_alert_statuses_by_oblast(use_cache=False)


def _until_error(client):
    if MODE == "async":
        return _poll_async(client)
    for _ in range(1000):
        client.get_air_raid_alert_statuses_by_oblast(use_cache=False)
    return None


if __name__ == "__main__":
    main()
