"""A real hub under random valid and invalid commands, killed with SIGKILL mid-burst, restarted:
it starts, every acknowledged event is in the log as it was acknowledged, every surface answers."""

from __future__ import annotations

import asyncio
import os
import random
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tryvoha.regions import Catalogue
from tryvoha.store import SqlStore

from .conftest import LiveHub, start_live_hub

pytestmark = pytest.mark.slow
ROUNDS = 3
BURST = 80
COMPAT_LIMITS_OFF = {
    f"TRYVOHA_COMPAT_{name}": "0"
    for name in ("AIU_PER_MIN", "AIU_HISTORY_PER_MIN", "UA_PER_MIN", "KEYLESS_PER_5MIN")
}
SURFACES = (
    "/api/v1/log",
    "/api/v1/status",
    "/api/v1/status/compact",
    "/api/v1/alerts/active",
    "/api/v1/alerts/history",
    "/api/v1/stats/summary",
    "/api/v1/stats/calendar",
    "/api/v3/alerts",
    "/v1/alerts/active.json",
)


def random_request(rng: random.Random, regions: list[str], alert_ids: list[int]) -> dict:
    """One operator request, valid or not: method, path, JSON body or raw bytes, headers."""
    now = datetime.now(UTC)
    region = rng.choice(regions)
    alert_id = rng.choice(alert_ids) if alert_ids and rng.random() < 0.8 else rng.randint(1, 99)
    headers = {}
    if rng.random() < 0.3:
        headers["Idempotency-Key"] = f"k-{rng.randint(0, 40)}-{{event_id}}"
    bad_time = rng.choice(
        ["0001-01-01T00:00:00+05:00", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59-23:59",
         "2024-01-01T00:00:00", (now + timedelta(hours=1)).isoformat(), "yesterday"]
    )  # fmt: skip
    good_time = (now - timedelta(seconds=rng.randint(0, 30))).isoformat()
    notes = rng.choice([None, "ok {event_id}", "рядок\nдва", "a\x00b", "x" * 2001, "\ud800"])
    kind = rng.randrange(10)
    if kind <= 3:
        body: Any = {"region_id": region, "details": rng.choice([[], ["drones"], ["ufo"]])}
        if rng.random() < 0.5:
            body["occurred_at"] = bad_time if rng.random() < 0.5 else good_time
        if notes is not None and "\ud800" not in notes:
            body["notes"] = notes
        return {"method": "POST", "path": "/api/v1/alerts", "json": body, "headers": headers}
    if kind <= 5:
        body = {"notes": notes if notes and "\ud800" not in notes else "змінено"}
        return {"method": "PATCH", "path": f"/api/v1/alerts/{alert_id}", "json": body,
                "headers": headers}  # fmt: skip
    if kind <= 7:
        body = {"occurred_at": good_time} if rng.random() < 0.7 else {"occurred_at": bad_time}
        return {"method": "POST", "path": f"/api/v1/alerts/{alert_id}/end", "json": body,
                "headers": headers}  # fmt: skip
    if kind == 8:
        big = rng.choice([2**63, 2**64, 10**30, -1, 0])
        return {"method": "POST", "path": f"/api/v1/alerts/{big}/end", "json": {},
                "headers": headers}  # fmt: skip
    raw = rng.choice([b'{"region_id": "\\ud800"}', b"{", b'{"region_id": NaN}', b"\xff\xfe"])
    return {"method": "POST", "path": "/api/v1/alerts", "content": raw,
            "headers": {**headers, "content-type": "application/json"}}  # fmt: skip


async def burst_then_kill(
    hub: LiveHub, token: str, rng: random.Random, regions: list[str], alert_ids: list[int]
) -> list[dict]:
    """Send a burst at once; kill -9 the hub after half the answers. Returns the acknowledged
    (2xx) answers; every answer received, valid or not, must be below 500."""
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=20)
    async with httpx.AsyncClient(base_url=hub.url, timeout=30, limits=limits) as client:

        async def send(spec: dict) -> httpx.Response:
            extra = spec.pop("headers")
            method, path = spec.pop("method"), spec.pop("path")
            return await client.request(method, path, **spec, headers={**headers, **extra})

        tasks = [
            asyncio.create_task(send(random_request(rng, regions, alert_ids))) for _ in range(BURST)
        ]
        done: set[asyncio.Task] = set()
        pending = set(tasks)
        while len(done) < BURST // 2 and pending:
            finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            done |= finished
        os.kill(hub.proc.pid, signal.SIGKILL)  # type: ignore[attr-defined]
        await asyncio.gather(*pending, return_exceptions=True)
    acknowledged = []
    for task in tasks:
        if isinstance(task.exception(), httpx.TransportError):
            continue  # in flight when the hub died: never acknowledged
        r = task.result()
        assert r.status_code < 500, (r.request.method, r.request.url, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/json"), r.text
        if r.is_success:
            acknowledged.append(r.json())
    return acknowledged


def read_log(url: str) -> dict[int, dict]:
    events: dict[int, dict] = {}
    after = 0
    while True:
        page = httpx.get(f"{url}/api/v1/log", params={"after": after}, timeout=30).json()
        for event in page["events"]:
            events[event["id"]] = event
        if not page["events"]:
            return events
        after = page["events"][-1]["id"]


def test_acknowledged_events_survive_kill_9_and_every_surface_answers(
    tmp_path: Path, catalogue: Catalogue
) -> None:
    db = str(tmp_path / "durable.db")
    store = SqlStore(f"sqlite:///{db}")
    token, _ = store.create_token("durability", None)
    store.close()
    rng = random.Random(20260309)
    regions = [o.id for o in catalogue.oblasts] + ["UA99999999999999999", "x" * 40]
    acknowledged: dict[int, dict] = {}
    hub = start_live_hub(db, "--no-history", env=COMPAT_LIMITS_OFF)
    try:
        for _ in range(ROUNDS):
            open_ids = [
                a["id"] for a in httpx.get(f"{hub.url}/api/v1/alerts/active").json()["alerts"]
            ]
            answers = asyncio.run(burst_then_kill(hub, token, rng, regions, open_ids))
            hub.proc.wait(timeout=10)  # type: ignore[attr-defined]
            for answer in answers:
                acknowledged[answer["event"]["id"]] = answer["event"]
            hub = start_live_hub(db, "--no-history", env=COMPAT_LIMITS_OFF)  # it starts

            log = read_log(hub.url)
            assert sorted(log) == list(range(1, len(log) + 1))  # no gap
            for event_id, event in acknowledged.items():
                assert log.get(event_id) == event, f"acknowledged event {event_id} changed or lost"
            for path in SURFACES:
                r = httpx.get(hub.url + path, headers={"Authorization": f"Bearer {token}"})
                assert r.status_code == 200, (path, r.status_code, r.text[:300])
                r.json()
        assert len(acknowledged) >= ROUNDS  # the rounds did write, not only refuse
    finally:
        if hub.proc.poll() is None:  # type: ignore[attr-defined]
            hub.proc.terminate()  # type: ignore[attr-defined]
            hub.proc.wait(timeout=10)  # type: ignore[attr-defined]
