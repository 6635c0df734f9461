"""Values at the edges of their documented ranges, at every entry point: refused with a 4xx JSON
answer that names the field and the range, never a 500; what is accepted renders everywhere; an
idempotent repeat is the first answer byte for byte; concurrent statistics all answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from tryvoha.alerts.commands import Actor, AlertRef, Declare, End, Rejected, Update
from tryvoha.alerts.model import Threat
from tryvoha.alerts.ranges import MAX_ID
from tryvoha.api.app import create_app
from tryvoha.bus.codec import decode_event, encode_event
from tryvoha.channels.webhooks import payload
from tryvoha.cli import app as cli
from tryvoha.config import Settings
from tryvoha.history.importer import import_file
from tryvoha.hub import Hub
from tryvoha.preflight import SurfaceRenderer
from tryvoha.regions import Catalogue
from tryvoha.store import SqlStore

from .conftest import auth

YEAR_1_OFFSET = "0001-01-01T00:00:00+05:00"  # UTC falls before year 1
YEAR_1_UTC = "0001-01-01T00:00:00Z"
YEAR_9999 = "9999-12-31T23:59:59-23:59"  # UTC falls after year 9999
HUGE_IDS = [2**53, 2**63 - 1, 2**63, 2**64, 10**30]


@pytest.fixture
async def api(
    hub: Hub, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    for name in ("AIU_PER_MIN", "AIU_HISTORY_PER_MIN", "UA_PER_MIN", "KEYLESS_PER_5MIN"):
        monkeypatch.setenv(f"TRYVOHA_COMPAT_{name}", "0")  # limits off: this test polls a lot
    settings = Settings.from_env(db=settings.db, load_history=False)
    transport = httpx.ASGITransport(app=create_app(hub, settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        yield client


def assert_json_error(r: httpx.Response, *statuses: int) -> dict:
    assert r.status_code in (statuses or (400, 404, 422)), (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json"), r.text
    return r.json()["error"]


async def every_surface_answers(api: httpx.AsyncClient, token: str) -> None:
    """The surfaces the reported input broke for good: all 2xx JSON."""
    for path in (
        "/api/v1/log",
        "/api/v1/status",
        "/api/v1/status/compact",
        "/api/v1/alerts/active",
        "/api/v1/alerts/history",
        "/api/v1/stats/summary",
        "/api/v1/stats/calendar?from=2026-01-01T00:00Z",
        "/api/v3/alerts",
        "/v1/alerts/active.json",
    ):
        r = await api.get(path, headers=auth(token))
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        r.json()


@pytest.mark.parametrize(
    ("when", "code"),
    [
        (YEAR_1_OFFSET, "time_out_of_range"),
        (YEAR_1_UTC, "time_out_of_range"),
        ("1999-12-31T23:59:59.999999Z", "time_out_of_range"),
        (YEAR_9999, "time_out_of_range"),
        ("2099-12-31T00:00:00Z", "time_in_future"),
        ("2024-01-01T00:00:00", "time_without_zone"),
    ],
)
async def test_declare_times_outside_the_range_are_refused_and_nothing_breaks(
    api: httpx.AsyncClient, admin_token: str, catalogue: Catalogue, when: str, code: str
) -> None:
    oblast = catalogue.oblasts[3].id
    body = {"region_id": oblast, "occurred_at": when}
    error = assert_json_error(
        await api.post("/api/v1/alerts", json=body, headers=auth(admin_token)), 422
    )
    assert error["code"] == code and "occurred_at" in error["message"]
    if code == "time_out_of_range":
        assert error["field"] == "occurred_at" and "2000-01-01T00:00Z" in error["message"]
    log = (await api.get("/api/v1/log")).json()
    assert log["events"] == [] and log["last_event_id"] == 0
    await every_surface_answers(api, admin_token)


async def test_the_earliest_accepted_time_renders_everywhere(
    api: httpx.AsyncClient, admin_token: str, catalogue: Catalogue, hub: Hub, sqlite_url: str
) -> None:
    oblast = catalogue.oblasts[4].id
    body = {"region_id": oblast, "occurred_at": "2000-01-01T00:00:00Z", "notes": "рядок\n\tдва"}
    r = await api.post("/api/v1/alerts", json=body, headers=auth(admin_token))
    assert r.status_code == 201, r.text
    await every_surface_answers(api, admin_token)
    reopened = Hub(catalogue, SqlStore(sqlite_url))
    reopened.load()  # a restart reads every row back
    assert reopened.state.canonical() == hub.state.canonical()
    reopened.close()


@pytest.mark.parametrize("big", HUGE_IDS)
async def test_ids_beyond_the_range_are_422_everywhere(
    api: httpx.AsyncClient, admin_token: str, big: int
) -> None:
    h = auth(admin_token)
    checks = [
        api.get(f"/api/v1/alerts/{big}"),
        api.patch(f"/api/v1/alerts/{big}", json={"notes": "x"}, headers=h),
        api.post(f"/api/v1/alerts/{big}/end", headers=h),
        api.get("/api/v1/log", params={"after": big}),
        api.get("/api/v1/alerts/history", params={"cursor": big}),
        api.get(f"/api/v1/webhooks/{big}", headers=h),
        api.get(f"/api/v1/webhooks/{big}/deliveries", headers=h),
        api.post(f"/api/v1/webhooks/{big}/retry", headers=h),
        api.delete(f"/api/v1/webhooks/{big}", headers=h),
        api.get(f"/api/v1/proposals/{big}", headers=h),
        api.post(f"/api/v1/proposals/{big}/approve", headers=h),
        api.get(f"/api/v1/events/{big}/delivery", headers=h),
    ]
    for r in await asyncio.gather(*checks):
        error = assert_json_error(r, 422)
        assert str(MAX_ID) in error["message"], error
    for path in (
        f"/v1/iot/active_air_raid_alerts/{big}.json",
        f"/v2/iot/active_air_raid_alerts/{big}.json",
        f"/v1/regions/{big}/alerts/day_ago.json",
        f"/api/v3/alerts/{big}",
        f"/api/v3/alerts/regionHistory?regionId={big}",
    ):
        assert_json_error(await api.get(path, headers=h), 404)


async def test_negative_and_zero_ids(api: httpx.AsyncClient, admin_token: str) -> None:
    assert_json_error(await api.get("/api/v1/alerts/0"), 422)
    assert_json_error(await api.get("/api/v1/alerts/-1"), 422)
    assert_json_error(await api.get("/api/v1/log", params={"after": -1}), 422)
    assert (await api.get("/api/v1/log", params={"after": MAX_ID})).status_code == 200
    assert_json_error(await api.get(f"/api/v1/alerts/{MAX_ID}"), 404)


@pytest.mark.parametrize("when", [YEAR_1_OFFSET, YEAR_1_UTC, YEAR_9999, "9999-12-31T23:59:59Z"])
async def test_query_times_near_year_1_and_9999(
    api: httpx.AsyncClient, admin_token: str, when: str
) -> None:
    checks = {
        "since": api.get("/api/v1/alerts/history", params={"since": when}),
        "until": api.get("/api/v1/alerts/history", params={"until": when}),
        "time": api.get("/api/v1/map/at", params={"time": when}),
        "since ": api.get(
            "/api/v1/map/alerts", params={"since": when, "until": "2026-01-01T00:00Z"}
        ),
        "until ": api.get(
            "/api/v1/map/alerts", params={"since": "2026-01-01T00:00Z", "until": when}
        ),
        "from": api.get("/api/v1/stats/summary", params={"from": when}),
        "to": api.get("/api/v1/stats/calendar", params={"to": when}),
        "from ": api.get("/api/v1/stats/nationwide", params={"from": when}),
    }
    answers = await asyncio.gather(*checks.values())
    for name, r in zip(checks, answers, strict=True):
        error = assert_json_error(r, 422)
        assert error["code"] == "time_out_of_range", error
        assert error["message"].startswith(name.strip() + " "), error
    await every_surface_answers(api, admin_token)


async def test_naive_query_times_name_the_parameter(api: httpx.AsyncClient) -> None:
    for path, name in (
        ("/api/v1/alerts/history?since=2024-01-01T00:00:00", "since"),
        ("/api/v1/map/at?time=2024-01-01T00:00:00", "time"),
        ("/api/v1/stats/summary?from=2024-01-01T00:00:00", "from"),
    ):
        error = assert_json_error(await api.get(path), 422)
        assert error["code"] == "time_without_zone" and error["message"].startswith(name)


async def test_compat_dates_and_uids(api: httpx.AsyncClient, admin_token: str) -> None:
    h = auth(admin_token)
    for day in ("00010101", "99991231", "19991231", "21000101", "2024131", "٢٠٢٤٠١٠١"):
        error = assert_json_error(
            await api.get("/api/v3/alerts/dateHistory", params={"date": day}, headers=h), 400
        )
        assert error["code"] == "invalid_date" and "20000101" in error["message"]
    ok = await api.get("/api/v3/alerts/dateHistory", params={"date": "20991231"}, headers=h)
    assert ok.status_code == 200 and ok.json() == []
    for uid in ("²", "٣١", "0" * 5000, "9" * 5000, ""):
        r = await api.get(f"/v1/iot/active_air_raid_alerts/{uid}.json", headers=h)
        assert_json_error(r, 404)
        r = await api.get(f"/v1/regions/{uid}/alerts/day_ago.json", headers=h)
        assert r.status_code in (404, 422) and r.json()["error"], r.text
    assert (await api.get("/v1/iot/active_air_raid_alerts/31.json", headers=h)).status_code == 200


@pytest.mark.parametrize(
    ("notes", "code"),
    [
        ("a\x00b", "notes_invalid"),
        ("bell\x07", "notes_invalid"),
        ("carriage\rreturn", "notes_invalid"),
        ("c1\x85", "notes_invalid"),
        ("x\ufffe", "notes_invalid"),
        ("x" * 2001, "notes_too_long"),
    ],
)
async def test_notes_the_log_could_not_carry_are_refused(
    api: httpx.AsyncClient, admin_token: str, catalogue: Catalogue, notes: str, code: str
) -> None:
    body = {"region_id": catalogue.oblasts[0].id, "notes": notes}
    r = await api.post("/api/v1/alerts", json=body, headers=auth(admin_token))
    error = assert_json_error(r, 422)
    assert error["code"] in (code, "invalid_request") and "notes" in error["message"]
    assert (await api.get("/api/v1/log")).json()["last_event_id"] == 0


async def test_lone_surrogates_in_a_body_are_refused(
    api: httpx.AsyncClient, admin_token: str, catalogue: Catalogue
) -> None:
    oblast = catalogue.oblasts[0].id
    h = {**auth(admin_token), "content-type": "application/json"}
    for raw in (
        b'{"region_id": "%s", "notes": "a\\ud800"}' % oblast.encode(),
        b'{"region_id": "%s", "\\udfff": 1}' % oblast.encode(),
        b'{"region_id": "\\ud800"}',
    ):
        assert_json_error(await api.post("/api/v1/alerts", content=raw, headers=h), 422)
    assert (await api.get("/api/v1/log")).json()["last_event_id"] == 0


async def test_domain_refuses_what_no_api_model_stops(hub: Hub, catalogue: Catalogue) -> None:
    """Callers inside the process (CLI, replay, importers) meet the same rules as the API."""
    oblast = catalogue.oblasts[0].id
    bad = [
        Declare(oblast, Threat.AIR_RAID, notes="a\ud800"),
        Declare(oblast, "meteor"),  # type: ignore[arg-type]
        Declare("x" * 33, Threat.AIR_RAID),
        End(AlertRef(alert_id=2**63)),
        End(AlertRef(alert_id=0)),
        Declare(oblast, Threat.AIR_RAID, occurred_at=datetime(1, 1, 1, tzinfo=UTC)),
    ]
    for command in bad:
        with pytest.raises(Rejected) as info:
            await hub.submit(command, Actor("token:t"))
        assert 400 <= info.value.http_status < 500
    with pytest.raises(Rejected) as info:
        await hub.submit(Declare(oblast, Threat.AIR_RAID), Actor("token:t\x00"))
    assert info.value.code == "text_invalid"
    assert hub.store.last_event_id == 0 == hub.last_event_id


async def test_no_lone_surrogate_reaches_the_log(hub: Hub, catalogue: Catalogue) -> None:
    """A lone surrogate cannot be encoded (UTF-8, the bus codec, JSON): every entry refuses it,
    so nothing in the log fails to go out."""
    oblast = catalogue.oblasts[0].id
    for command, actor in [
        (Declare(oblast, Threat.AIR_RAID, notes="sirens \udc80"), "token:t"),
        (Declare("UA\ud800", Threat.AIR_RAID), "token:t"),
        (Declare(oblast, Threat.AIR_RAID), "token:dispatch-\udc80"),  # a name from argv bytes
    ]:
        with pytest.raises(Rejected) as info:
            await hub.submit(command, Actor(actor))
        assert 400 <= info.value.http_status < 500
    opened = await hub.submit(Declare(oblast, Threat.AIR_RAID), Actor("token:t"))
    with pytest.raises(Rejected):
        await hub.submit(
            Update(AlertRef(alert_id=opened.alert_id), notes="\ud83d"), Actor("token:t")
        )
    with pytest.raises(ValueError, match="printable"):
        hub.store.create_token("dispatch-\udc80", None)
    assert hub.store.last_event_id == 1
    for event in hub.store.events_after(0):
        decode_event(encode_event(event))


@pytest.mark.parametrize("key", ["", "ключ", "k" * 201, "tab\there"])
async def test_idempotency_keys_outside_printable_ascii(
    api: httpx.AsyncClient, admin_token: str, catalogue: Catalogue, key: str
) -> None:
    headers = {**auth(admin_token), "Idempotency-Key": key.encode()}  # raw UTF-8 bytes
    body = {"region_id": catalogue.oblasts[0].id}
    r = await api.post("/api/v1/alerts", json=body, headers=headers)
    assert_json_error(r, 422)
    assert (await api.get("/api/v1/log")).json()["last_event_id"] == 0


async def test_idempotent_repeat_is_the_first_answer_byte_for_byte(
    api: httpx.AsyncClient, admin_token: str, catalogue: Catalogue, hub: Hub
) -> None:
    oblast = catalogue.oblasts[7].id
    headers = {**auth(admin_token), "Idempotency-Key": "dispatch-0042 {event_id}"}
    body = {"region_id": oblast, "notes": "literal {event_id} and {alert_id}, id {event_id}"}
    first = await api.post("/api/v1/alerts", json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert first.json()["alert"]["notes"] == body["notes"]
    repeat = await api.post("/api/v1/alerts", json=body, headers=headers)
    assert repeat.status_code == 201 and repeat.headers["idempotent-replayed"] == "true"
    assert repeat.content == first.content
    assert repeat.headers["location"] == first.headers["location"]
    assert hub.last_event_id == 1
    alert_id = first.json()["alert"]["id"]
    end_headers = {**auth(admin_token), "Idempotency-Key": "end-{event_id}"}
    ended = await api.post(f"/api/v1/alerts/{alert_id}/end", headers=end_headers)
    again = await api.post(f"/api/v1/alerts/{alert_id}/end", headers=end_headers)
    assert ended.status_code == 200 and again.content == ended.content
    assert hub.last_event_id == 2


async def test_the_answer_is_the_webhook_payload(hub: Hub, catalogue: Catalogue) -> None:
    oblast = catalogue.oblasts[2].id
    declared = await hub.submit(Declare(oblast, Threat.AIR_RAID, notes="n"), Actor("token:t"))
    assert declared.event is not None
    assert declared.body == payload.render(declared.event, None)
    before = hub.state.open_alerts[declared.alert_id]
    ended = await hub.submit(End(AlertRef(alert_id=declared.alert_id)), Actor("token:t"))
    assert ended.event is not None and ended.body == payload.render(ended.event, before)


class FailingMqtt(SurfaceRenderer):
    """A surface that cannot render an event (as a broken renderer would fail)."""

    def _mqtt_topic(self, event):  # type: ignore[no-untyped-def]
        raise ValueError("topic level too long for the broker")


async def test_an_unrenderable_event_is_refused_before_it_is_written(
    catalogue: Catalogue, sqlite_url: str
) -> None:
    hub = Hub(catalogue, SqlStore(sqlite_url), renderer=FailingMqtt)
    hub.load()
    seen = []
    hub.bus.subscribe(seen.append)
    try:
        with pytest.raises(Rejected) as info:
            await hub.submit(Declare(catalogue.oblasts[0].id, Threat.AIR_RAID), Actor("t"), "k1")
        assert info.value.http_status == 422 and info.value.code == "unrenderable_event"
        assert "MQTT" in info.value.message and "topic level too long" in info.value.message
        assert hub.store.last_event_id == 0 and hub.last_event_id == 0 and seen == []
        assert hub.store.events_after(0) == [] and hub.store.find_idempotent("t", "k1") is None
    finally:
        hub.close()


async def test_concurrent_statistics_all_answer(
    api: httpx.AsyncClient, hub: Hub, catalogue: Catalogue
) -> None:
    base = datetime.now(UTC) - timedelta(days=40)
    for i, oblast in enumerate(catalogue.oblasts[:12]):
        at = base + timedelta(days=i, hours=i)
        declared = await hub.submit(Declare(oblast.id, Threat.AIR_RAID, occurred_at=at), Actor("t"))
        end = End(AlertRef(alert_id=declared.alert_id), occurred_at=at + timedelta(hours=5))
        await hub.submit(end, Actor("t"))
    paths = []
    for k in range(64):
        year = 2000 + (k * 7) % 99
        period = f"from={year}-01-01T00:00Z&to={year + 1}-01-01T00:00Z"
        if k % 5 == 0:
            period = ""
        kind = ("summary", "calendar", "longest", "nationwide")[k % 4]
        paths.append(f"/api/v1/stats/{kind}?{period}")
    answers = await asyncio.gather(*(api.get(p) for p in paths))
    assert [r.status_code for r in answers] == [200] * len(paths), [
        (p, r.text[:200]) for p, r in zip(paths, answers, strict=True) if r.status_code != 200
    ]
    summary = next(r.json() for p, r in zip(paths, answers, strict=True) if p.endswith("summary?"))
    assert summary["alerts"] == 12


def test_cli_at_outside_the_range_is_refused_before_sending() -> None:
    runner = CliRunner()
    for at, words in ((YEAR_1_OFFSET, "outside the range"), ("soon", "not an ISO 8601 time")):
        result = runner.invoke(
            cli,
            ["alert", "declare", "UA32000000000030281", "--at", at, "--url", "http://127.0.0.1:9"],
            env={"TRYVOHA_TOKEN": "tv_x"},
        )
        assert result.exit_code == 2 and words in result.output, result.output
        assert "Cannot reach the hub" not in result.output


async def test_import_rows_with_times_out_of_range_get_line_numbered_reasons(
    hub: Hub, tmp_path: Path
) -> None:
    rows = [
        "Kyiv City,,,oblast,2023-03-09 01:00:00+00:00,2023-03-09 02:00:00+00:00,official",
        "Lvivska oblast,,,oblast,0001-01-01 00:00:00+05:00,2023-03-09 04:00:00+00:00,official",
        "Lvivska oblast,,,oblast,1999-03-09 00:00:00+00:00,2023-03-09 04:00:00+00:00,official",
        "Lvivska oblast,,,oblast,2023-03-09 03:00:00+00:00,9999-12-31 23:59:59-23:59,official",
        "Lvivska oblast,,,oblast,2023-03-09 03:00:00+00:00,2098-03-09 04:00:00+00:00,official",
        "Lvivska oblast,,,oblast,2023-03-09 03:00:00+00:00,2023-03-09 04:00:00+00:00,official",
    ]
    path = tmp_path / "rows.csv"
    header = "oblast,raion,hromada,level,started_at,finished_at,source\n"
    path.write_text(header + "".join(r + "\n" for r in rows))
    report = await import_file(hub, "official", path, permanent=False)
    assert report.imported == 2 and hub.last_event_id == 4
    reasons = {p.line: p.reason for p in report.problems}
    assert set(reasons) == {3, 4, 5, 6}
    assert all("outside the range" in reasons[line] for line in (3, 4, 5, 6)), reasons
    assert reasons[3].startswith("started_at") and reasons[5].startswith("finished_at")


def test_import_cli_names_the_lines_out_of_range(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text(
        "oblast,raion,hromada,level,started_at,finished_at,source\n"
        "Kyiv City,,,oblast,2023-03-09 01:00:00+00:00,2023-03-09 02:00:00+00:00,official\n"
        "Lvivska oblast,,,oblast,0001-01-01 00:00:00+05:00,2023-03-09 04:00:00+00:00,official\n"
    )
    result = CliRunner().invoke(
        cli, ["import", "official", str(path), "--db", str(tmp_path / "x.db")]
    )
    assert result.exit_code == 0, result.output
    assert "line 3:" in result.output and "outside the range" in result.output


async def test_openapi_states_the_ranges(api: httpx.AsyncClient) -> None:
    doc = (await api.get("/openapi.json")).json()
    alert = doc["paths"]["/api/v1/alerts/{alert_id}"]["get"]["parameters"][0]["schema"]
    assert alert["minimum"] == 1 and alert["maximum"] == MAX_ID
    log = doc["paths"]["/api/v1/log"]["get"]["parameters"]
    after = next(p for p in log if p["name"] == "after")["schema"]
    assert after["minimum"] == 0 and after["maximum"] == MAX_ID
    text = orjson.dumps(doc).decode()
    assert "2000-01-01T00:00Z" in text and "printable ASCII" in text
    assert "no control characters" in text


@pytest.mark.parametrize("originator", ["token:\x00", "token:a\udc80"])
async def test_an_originator_the_log_cannot_hold_is_refused_before_any_lookup(
    catalogue: Catalogue, db_url: str, originator: str
) -> None:
    """With an Idempotency-Key the first step is a lookup by originator: PostgreSQL refuses a
    NUL there with an error of its own, so the originator is checked before it."""
    hub = Hub(catalogue, SqlStore(db_url))
    hub.load()
    try:
        command = Declare(catalogue.oblasts[0].id, Threat.AIR_RAID)
        with pytest.raises(Rejected) as info:
            await hub.submit(command, Actor(originator), idempotency_key="k-1")
        assert info.value.code == "text_invalid" and hub.store.last_event_id == 0
        noted = Declare(catalogue.oblasts[0].id, Threat.AIR_RAID, notes="a\udc80")
        with pytest.raises(Rejected) as info:
            await hub.submit(noted, Actor("token:t"), idempotency_key="k-2")
        assert info.value.code == "notes_invalid" and hub.store.last_event_id == 0
    finally:
        hub.close()
