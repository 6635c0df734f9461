"""Group commit under kill -9: a real hub (SQLite and PostgreSQL) takes concurrent operator
commands with Idempotency-Keys from many connections, so they share transactions, and is killed
mid-load. After a restart every acknowledged event is in the log as it was acknowledged, the
log is gapless, and each acknowledged request repeated with its key gets its first answer byte
for byte."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import httpx
import pytest

from tryvoha.regions import Catalogue
from tryvoha.store import SqlStore

from .conftest import LiveHub, start_live_hub
from .test_durability import read_log

pytestmark = pytest.mark.slow
WORKERS = 16
KILL_AFTER = 60


def batch_counts(metrics: str) -> tuple[float, float]:
    """(transactions, transactions holding one command) from the hub's /metrics."""
    found = {}
    for line in metrics.splitlines():
        if line.startswith("tryvoha_commit_batch_commands_count"):
            found["all"] = float(line.split()[-1])
        elif line.startswith('tryvoha_commit_batch_commands_bucket{le="1.0"}'):
            found["one"] = float(line.split()[-1])
    return found["all"], found["one"]


async def load_then_kill(
    hub: LiveHub, token: str, regions: list[str]
) -> tuple[list[dict], tuple[float, float]]:
    """Each worker declares and ends its own region in a loop, every request with its own key;
    the hub is killed once KILL_AFTER answers are in. Returns what was acknowledged, and the
    transactions counted by the hub just before."""
    acknowledged: list[dict] = []
    enough = asyncio.Event()
    headers = {"Authorization": f"Bearer {token}"}

    async def worker(w: int, client: httpx.AsyncClient) -> None:
        region, alert_id, n = regions[w], None, 0
        while True:
            key = f"w{w}-{n}"
            if alert_id is None:
                method, path, body = "POST", "/api/v1/alerts", {"region_id": region}
            else:
                method, path, body = "POST", f"/api/v1/alerts/{alert_id}/end", {}
            try:
                r = await client.request(
                    method, path, json=body, headers={**headers, "Idempotency-Key": key}
                )
            except httpx.TransportError:
                return  # the hub died with this request in flight: never acknowledged
            assert r.status_code in (200, 201), r.text
            acknowledged.append(
                {"method": method, "path": path, "json": body, "key": key, "body": r.content}
            )
            alert_id = r.json()["event"]["alert_id"] if alert_id is None else None
            n += 1
            if len(acknowledged) >= KILL_AFTER:
                enough.set()

    limits = httpx.Limits(max_connections=WORKERS)
    async with httpx.AsyncClient(base_url=hub.url, timeout=30, limits=limits) as client:
        tasks = [asyncio.create_task(worker(w, client)) for w in range(WORKERS)]
        await asyncio.wait_for(enough.wait(), 120)
        counts = batch_counts((await client.get("/metrics", headers=headers)).text)
        os.kill(hub.proc.pid, signal.SIGKILL)  # type: ignore[attr-defined]
        await asyncio.gather(*tasks)
    return acknowledged, counts


def test_acknowledged_batched_commands_survive_kill_9(
    db_url: str, tmp_path: Path, catalogue: Catalogue
) -> None:
    db = db_url if not db_url.startswith("sqlite") else str(tmp_path / "group.db")
    store = SqlStore(db if "://" in db else f"sqlite:///{db}")
    token, _ = store.create_token("group-durability", None)
    store.close()
    regions = [o.id for o in catalogue.oblasts[:WORKERS]]
    hub = start_live_hub(db, "--no-history")
    try:
        acknowledged, (transactions, single) = asyncio.run(load_then_kill(hub, token, regions))
        assert single < transactions  # some transactions held several commands
        hub.proc.wait(timeout=10)  # type: ignore[attr-defined]
        hub = start_live_hub(db, "--no-history")
        log = read_log(hub.url)
        assert sorted(log) == list(range(1, len(log) + 1))  # gapless
        assert len(acknowledged) >= KILL_AFTER
        headers = {"Authorization": f"Bearer {token}"}
        for sent in acknowledged:
            event = httpx.Response(200, content=sent["body"]).json()["event"]
            assert log.get(event["id"]) == event, f"acknowledged event {event['id']} lost"
            again = httpx.request(
                sent["method"],
                hub.url + sent["path"],
                json=sent["json"],
                headers={**headers, "Idempotency-Key": sent["key"]},
                timeout=30,
            )
            assert again.content == sent["body"], (sent["key"], again.text)
        assert read_log(hub.url) == log  # the repeats wrote nothing
    finally:
        if hub.proc.poll() is None:  # type: ignore[attr-defined]
            hub.proc.terminate()  # type: ignore[attr-defined]
            hub.proc.wait(timeout=10)  # type: ignore[attr-defined]
