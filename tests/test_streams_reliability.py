"""Streams against a real `tryvoha serve`: kill -9 during declarations, and several workers."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path

import httpx
import orjson
import pytest
import websockets

from tryvoha.regions import Catalogue, Level
from tryvoha.store import SqlStore

from .test_streams_support import SSEClient, free_port, spawn_serve
from .waiting import until


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def live_ids(db_url: str, after: int = 0) -> list[int]:
    store = SqlStore(db_url)
    try:
        return [e.id for e in store.events_after(after) if e.is_broadcast]
    finally:
        store.close()


def token_for(db_url: str) -> str:
    store = SqlStore(db_url)
    try:
        return store.create_token("reliability", None)[0]
    finally:
        store.close()


async def read_until_closed(sub: SSEClient, seen: list[int]) -> None:
    while True:
        try:
            message = await sub.next(timeout=30)
        except ConnectionError:
            return
        if message.kind == "alert":
            seen.append(message.id)


@pytest.mark.slow
async def test_kill9_during_declarations_loses_nothing(tmp_path: Path, catalogue: Catalogue):
    db_url = f"sqlite:///{tmp_path / 'hub.db'}"
    token = token_for(db_url)
    port = free_port()
    hromadas = [r.id for r in catalogue if r.level is Level.HROMADA][:400]
    proc = spawn_serve(db_url, port)
    acknowledged: list[int] = []
    seen: list[int] = []
    try:
        sub = await SSEClient.open(port)
        assert (await sub.next()).kind == "snapshot"
        reader = asyncio.create_task(read_until_closed(sub, seen))

        async def declarer(offset: int) -> None:
            headers = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                for region in hromadas[offset::4]:
                    try:
                        r = await client.post(
                            "/api/v1/alerts", json={"region_id": region}, headers=headers
                        )
                    except httpx.TransportError:
                        return
                    assert r.status_code == 201, r.text
                    acknowledged.append(r.json()["event"]["id"])

        declarers = [asyncio.create_task(declarer(k)) for k in range(4)]

        def forty_acknowledged() -> bool:
            for d in declarers:
                if d.done():
                    d.result()  # a declarer that failed fails the test with its own error
            return len(acknowledged) >= 40

        await until(forty_acknowledged, "40 declarations acknowledged", poll=0.005)
        stop(proc, signal.SIGKILL)  # mid-stream: requests are in flight
        await asyncio.gather(*declarers)
        await asyncio.wait_for(reader, 10)
    finally:
        stop(proc, signal.SIGKILL)

    logged = live_ids(db_url)
    assert set(acknowledged) <= set(logged), "an acknowledged event is missing after kill -9"
    assert logged == list(range(1, len(logged) + 1))
    assert seen == logged[: len(seen)]  # what was streamed before the crash was exact

    proc = spawn_serve(db_url, port)
    try:
        last = seen[-1] if seen else 0
        back = await SSEClient.open(port, headers={"Last-Event-ID": str(last)})
        missed = [m.id for m in await back.alerts(len(logged) - len(seen))]
        assert missed == [i for i in logged if i > last]
        assert seen + missed == logged
        back.close()
    finally:
        stop(proc)


@pytest.mark.slow
async def test_workers_share_one_ordered_stream(tmp_path: Path, catalogue: Catalogue) -> None:
    """Subscribers spread over 3 processes get every event once, in order, and resume anywhere."""
    db_url = f"sqlite:///{tmp_path / 'hub.db'}"
    token = token_for(db_url)
    port = free_port()
    proc = spawn_serve(db_url, port, workers=3)
    oblasts = [o.id for o in catalogue.oblasts]
    headers = {"Authorization": f"Bearer {token}"}
    try:
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True)
        followers = [int(p) for p in children.stdout.split()]
        assert len(followers) == 2
        fds_before = {p: len(os.listdir(f"/proc/{p}/fd")) for p in followers}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers) as api:
            first = await api.post("/api/v1/alerts", json={"region_id": oblasts[0]})
            assert first.status_code == 201
            subs = [await SSEClient.open(port) for _ in range(30)]
            snapshots = [await s.next(timeout=20) for s in subs]
            assert {(m.kind, m.data["log_id"]) for m in snapshots} == {("snapshot", 1)}
            assert all(len(m.data["open_alerts"]) == 1 for m in snapshots)
            for p in followers:  # each follower holds some of the connections
                assert len(os.listdir(f"/proc/{p}/fd")) >= fds_before[p] + 5
            ws = [await websockets.connect(f"ws://127.0.0.1:{port}/api/v1/ws") for _ in range(6)]
            for w in ws:
                assert orjson.loads(await w.recv())["type"] == "snapshot"

            async def produce(count: int) -> None:
                for i in range(count):
                    region = oblasts[1 + i % 20]
                    r = await api.post("/api/v1/alerts", json={"region_id": region})
                    if r.status_code == 409:
                        r = await api.post(f"/api/v1/regions/{region}/alerts/air_raid/end")
                    assert r.status_code in (200, 201), r.text

            await produce(40)
            expected = live_ids(db_url, after=1)
            for s in subs:
                assert [m.id for m in await s.alerts(len(expected), timeout=20)] == expected
            for w in ws:
                got = [orjson.loads(await w.recv())["id"] for _ in expected]
                assert got == expected
                await w.close()
            # half disconnect; events go on; they resume (on any process) exactly
            for s in subs[:15]:
                s.close()
            await produce(20)
            resumed = [
                await SSEClient.open(port, headers={"Last-Event-ID": str(expected[-1])})
                for _ in range(15)
            ]
            await produce(10)
            rest = live_ids(db_url, after=expected[-1])
            for s in resumed + subs[15:]:
                assert [m.id for m in await s.alerts(len(rest), timeout=20)] == rest
                s.close()
            metrics = (await api.get("/metrics")).text
            assert 'tryvoha_subscribers{channel="sse"}' in metrics
    finally:
        stop(proc)
    assert proc.returncode is not None
    for p in followers:  # followers end with the hub
        assert not Path(f"/proc/{p}").exists() or "zombie" in Path(f"/proc/{p}/status").read_text()
