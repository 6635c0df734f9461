"""Standby takeover time on this machine: kill -9 of the active writer -> first write accepted.

A writer and a standby (`tryvoha serve --standby`) on one fresh PostgreSQL database, both with
MQTT (Mosquitto at 127.0.0.1:1883) and a webhook subscription to a local receiver, as a
deployment runs them. Four operator clients declare alerts without pause, each retrying a
refused or unanswered request at the other node every 50 ms. The active writer is killed with
SIGKILL; the time until the standby's first 201 is one takeover. The killed node then comes back
as the standby, and the next round kills the new writer.

`--fencing` measures instead what fencing costs each append on PostgreSQL: appends of one event
through a store that holds the writer lock (the lock checked, the epoch row updated in the
transaction) beside the same through a store without it.

Usage: .venv/bin/python bench/bench_standby.py [--rounds 5] [--fencing]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
from sqlalchemy import create_engine, text

from tryvoha.alerts.model import AlertStatus, EventDraft, EventKind, Threat
from tryvoha.channels.webhooks.receiver import Receiver
from tryvoha.regions import Level, load_catalogue
from tryvoha.store import SqlStore, acquire_writer

ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CLIENTS = 4
TOKEN_CREATE = [sys.executable, "-m", "tryvoha.cli", "token", "create", "bench", "--all-regions"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Node:
    def __init__(self, db: str, env: dict[str, str], log: Path, standby: bool) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "tryvoha.cli", "serve", "--db", db, "--port", str(self.port)]
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*cmd, *(["--standby"] if standby else [])],
                env={**os.environ, **env},
                stdout=out,
                stderr=out,
            )
        deadline = time.monotonic() + 60
        while not listening(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"node did not start; see {log}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=15)


async def declare_until(
    nodes: list[str],
    token: str,
    regions: list[str],
    acks: list[tuple[float, str]],
    stop: list[bool],
) -> None:
    targets = itertools.cycle(nodes)
    node = next(targets)
    async with httpx.AsyncClient(timeout=5.0) as http:
        for region in regions:
            while not stop:
                try:
                    r = await http.post(
                        f"{node}/api/v1/alerts",
                        json={"region_id": region, "threat": "air_raid"},
                        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": region},
                    )
                except httpx.TransportError:
                    r = None
                if r is not None and r.status_code == 201:
                    acks.append((time.monotonic(), node))
                    break
                node = next(targets)
                await asyncio.sleep(0.05)
            if stop:
                return


async def main(rounds: int) -> None:
    name = f"tryvoha_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db = f"postgresql://postgres@127.0.0.1:5432/{name}"
    scratch = Path(tempfile.mkdtemp(prefix="tryvoha-bench-standby-"))
    env = {
        "TRYVOHA_LOAD_HISTORY": "0",
        "TRYVOHA_KEYS": str(scratch / "keys"),
        "TRYVOHA_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
        "TRYVOHA_MQTT": "mqtt://127.0.0.1:1883",
        "TRYVOHA_MQTT_PREFIX": f"bench-{uuid.uuid4().hex[:6]}",
    }
    log = scratch / "nodes.log"
    regions = [r.id for r in load_catalogue() if r.level is Level.HROMADA]
    receiver = Receiver()
    await receiver.start()
    writer = Node(db, env, log, standby=False)
    standby: Node | None = None
    times: list[float] = []
    try:
        made = subprocess.run(
            [*TOKEN_CREATE, "--db", db, "--json"],
            capture_output=True,
            check=True,
        )
        token = orjson.loads(made.stdout)["token"]
        async with httpx.AsyncClient() as http:
            hook = {"url": receiver.url}
            auth = {"Authorization": f"Bearer {token}"}
            r = await http.post(f"{writer.url}/api/v1/webhooks", json=hook, headers=auth)
            r.raise_for_status()
        per_round = len(regions) // rounds
        for n in range(rounds):
            standby = Node(db, env, log, standby=True)
            share = regions[n * per_round : (n + 1) * per_round]
            acks: list[tuple[float, str]] = []
            stop: list[bool] = []
            nodes = [writer.url, standby.url]
            clients = [
                asyncio.create_task(declare_until(nodes, token, share[i::CLIENTS], acks, stop))
                for i in range(CLIENTS)
            ]
            while len(acks) < 30:
                await asyncio.sleep(0.01)
            writer.proc.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            writer.proc.wait()
            while not any(t > killed and u == standby.url for t, u in acks):
                await asyncio.sleep(0.005)
            first = min(t for t, u in acks if t > killed and u == standby.url)
            times.append(first - killed)
            stop.append(True)
            await asyncio.gather(*clients)
            print(f"round {n + 1}: takeover {1000 * times[-1]:.0f} ms ({len(acks)} declarations)")
            writer, standby = standby, None
    finally:
        for node in (writer, standby):
            if node is not None:
                node.stop()
        await receiver.stop()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    ms = sorted(1000 * t for t in times)
    print(
        f"takeover over {len(ms)} rounds: p50 {statistics.median(ms):.0f} ms, max {ms[-1]:.0f} ms"
    )


def fencing_cost(appends: int) -> None:
    name = f"tryvoha_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db = f"postgresql://postgres@127.0.0.1:5432/{name}"
    oblasts = load_catalogue().oblasts
    try:
        fenced = SqlStore(db, writer=acquire_writer(db, "bench"))
        plain = SqlStore(db)
        figures: dict[str, list[float]] = {"fenced": [], "unfenced": []}
        try:
            for n in range(appends):  # interleaved, so both see the same machine
                for label, store in (("fenced", fenced), ("unfenced", plain)):
                    store._last_id = store._read_last_id()  # the other store appended meanwhile
                    draft = EventDraft(
                        EventKind.DECLARED,
                        oblasts[n % len(oblasts)].id,
                        Threat.AIR_RAID,
                        AlertStatus.ACTUAL,
                        datetime.now(UTC),
                        "bench",
                    )
                    started = time.perf_counter()
                    store.append(draft, datetime.now(UTC))
                    figures[label].append(1000 * (time.perf_counter() - started))
        finally:
            plain.close()
            fenced.close()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    for label, ms in figures.items():
        ms.sort()
        p50, p99 = statistics.median(ms), ms[int(0.99 * (len(ms) - 1))]
        print(f"append, {label}: p50 {p50:.2f} ms, p99 {p99:.2f} ms ({len(ms)} appends)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="takeovers to measure (1 to 20)")
    parser.add_argument("--fencing", action="store_true", help="the cost of fencing per append")
    args = parser.parse_args()
    if not 1 <= args.rounds <= 20:
        parser.error("--rounds must be 1 to 20")
    if args.fencing:
        fencing_cost(2000)
    else:
        asyncio.run(main(args.rounds))
