"""A standby writer on PostgreSQL, with real processes: it serves writes within seconds of the
active writer's kill -9 under a steady load of declarations; every acknowledged event is in the
log, ids gapless; webhooks arrive once per event (a repeat keeps its delivery id); MQTT's
retained statuses converge. And fencing: a writer whose lock connection is killed, or that a
newer writer fenced off, writes nothing more."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
import httpx
import orjson
import pytest
from sqlalchemy import create_engine, insert, text
from typer.testing import CliRunner

from tryvoha.alerts.commands import Actor, Declare, Rejected
from tryvoha.alerts.model import AlertStatus, EventDraft, EventKind, Threat, assign
from tryvoha.api.app import create_app
from tryvoha.channels.webhooks.receiver import Receiver
from tryvoha.cli import app as cli
from tryvoha.config import Settings
from tryvoha.hub import Hub
from tryvoha.regions import Catalogue, Level
from tryvoha.standby import WriterRole
from tryvoha.store import NotTheWriter, SqlStore
from tryvoha.store.fencing import check_epoch
from tryvoha.store.positions import MQTT_POSITION_KEY
from tryvoha.store.rows import event_row
from tryvoha.store.schema import events
from tryvoha.store.url import driver_url
from tryvoha.store.webhooks import WebhookStore
from tryvoha.store.writer import WRITER_LOCK_KEY, ProcessLock, writer_lock

from .conftest import auth, free_port, need_service, service_up
from .waiting import until, wait_for

T0 = datetime(2024, 5, 1, 1, 0, tzinfo=UTC)
CLIENTS = 4
"""Operator clients declaring at once, each on regions of its own."""
BEFORE, AFTER = 40, 40
"""Acknowledged declarations before the kill, and from the standby after it."""


@dataclass
class Node:
    """One `tryvoha serve` process and the file its stderr goes to."""

    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def said(self, words: str) -> bool:
        return words in self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_node(db: str, tmp_path: Path, name: str, env: dict[str, str], *extra: str) -> Node:
    port = free_port()
    log = tmp_path / f"{name}.log"
    cmd = [sys.executable, "-m", "tryvoha.cli", "serve", "--db", db, "--port", str(port), *extra]
    with log.open("wb") as err:
        proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=err, stderr=err)
    node = Node(proc, f"http://127.0.0.1:{port}", log)
    try:
        wait_for(
            lambda: proc.poll() is not None or service_up(port), f"{name} listening", timeout=60
        )
    except AssertionError:
        node.stop()
        raise
    assert proc.poll() is None, f"{name} exited: {log.read_text()[-2000:]}"
    return node


def kill_lock_session(url: str) -> list[tuple[bool]]:
    """pg_terminate_backend of the session holding the writer lock, waiting (up to 10 s) until
    it has ended: one (True,) per session ended."""
    admin = create_engine(driver_url(url))
    try:
        with admin.begin() as conn:
            return conn.execute(  # type: ignore[return-value]
                text(
                    "SELECT pg_terminate_backend(pid, 10000) FROM pg_locks WHERE locktype = "
                    "'advisory' AND objid = :key AND granted AND database = (SELECT oid "
                    "FROM pg_database WHERE datname = current_database())"
                ),
                {"key": WRITER_LOCK_KEY},
            ).all()
    finally:
        admin.dispose()


def hub_env(tmp_path: Path, prefix: str) -> dict[str, str]:
    return {
        "TRYVOHA_LOAD_HISTORY": "0",
        "TRYVOHA_KEYS": str(tmp_path / "keys"),  # one hub identity for writer and standby
        "TRYVOHA_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
        "TRYVOHA_WEBHOOK_BACKOFF_BASE": "0.05",
        "TRYVOHA_WEBHOOK_BACKOFF_MAX": "0.5",
        "TRYVOHA_MQTT": "mqtt://127.0.0.1:1883",
        "TRYVOHA_MQTT_PREFIX": prefix,
    }


def make_token(db: str) -> str:
    args = ["token", "create", "load", "--all-regions", "--db", db, "--json"]
    made = CliRunner().invoke(cli, args)
    assert made.exit_code == 0, made.output
    return orjson.loads(made.stdout)["token"]


@dataclass
class Load:
    """Operator clients declaring alerts with Idempotency-Keys, each retrying a refused or
    unanswered request at the other node (what docs/standby.md tells clients to do)."""

    nodes: list[str]
    token: str
    regions: list[str]
    acked: dict[str, int] = field(default_factory=dict)
    """Region id -> the log id acknowledged for its declaration."""
    ack_times: list[tuple[float, str]] = field(default_factory=list)
    """(monotonic time, node) of every acknowledgement."""
    refusals: list[httpx.Response] = field(default_factory=list)
    stop: bool = False

    async def client(self, regions: list[str]) -> None:
        targets = itertools.cycle(self.nodes)
        node = next(targets)
        async with httpx.AsyncClient(timeout=5.0) as http:
            for region in regions:
                while not self.stop:
                    try:
                        r = await http.post(
                            f"{node}/api/v1/alerts",
                            json={"region_id": region, "threat": "air_raid"},
                            headers={**auth(self.token), "Idempotency-Key": f"standby-{region}"},
                        )
                    except httpx.TransportError:
                        node = next(targets)
                        await asyncio.sleep(0.05)
                        continue
                    if r.status_code == 503:
                        self.refusals.append(r)
                        node = next(targets)
                        await asyncio.sleep(0.05)
                        continue
                    assert r.status_code == 201, r.text
                    self.acked[region] = r.json()["event"]["id"]
                    self.ack_times.append((time.monotonic(), node))
                    break
                if self.stop:
                    return

    async def run(self) -> None:
        shares = [self.regions[i::CLIENTS] for i in range(CLIENTS)]
        await asyncio.gather(*(self.client(share) for share in shares))


def hromadas(catalogue: Catalogue, count: int) -> list[str]:
    return [r.id for r in catalogue if r.level is Level.HROMADA][:count]


async def retained(prefix: str, topics: list[str]) -> dict[str, bytes]:
    """The retained messages on `topics`, as a device that connects now gets them."""
    found: dict[str, bytes] = {}
    async with aiomqtt.Client("127.0.0.1", 1883, identifier=f"test-{uuid.uuid4().hex[:8]}") as c:
        for topic in topics:
            await c.subscribe(topic, qos=1)
        async with asyncio.timeout(15):
            async for message in c.messages:
                found[str(message.topic)] = bytes(message.payload)
                if len(found) == len(topics):
                    break
    return found


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.mqtt
async def test_standby_takes_over_under_load(
    postgres_url: str, tmp_path: Path, catalogue: Catalogue, nodes: list[Node]
) -> None:
    need_service(1883, "Mosquitto")
    prefix = f"standby-{uuid.uuid4().hex[:8]}"
    env = hub_env(tmp_path, prefix)
    writer = start_node(postgres_url, tmp_path, "writer", env)
    nodes.append(writer)
    token = make_token(postgres_url)
    receiver = Receiver()
    await receiver.start()
    async with httpx.AsyncClient(timeout=10) as http:
        made = await http.post(
            f"{writer.url}/api/v1/webhooks", json={"url": receiver.url}, headers=auth(token)
        )
        assert made.status_code == 201, made.text
        standby = start_node(postgres_url, tmp_path, "standby", env, "--standby")
        nodes.append(standby)
        await until(lambda: standby.said("standby: waiting for tryvoha serve (pid"), "announced")
        refused = await http.post(
            f"{standby.url}/api/v1/alerts",
            json={"region_id": "UA80000000000093317", "threat": "air_raid"},
            headers=auth(token),
        )
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "not_the_writer"
        assert refused.json()["error"]["retry_after"] == int(refused.headers["retry-after"]) >= 1

    regions = hromadas(catalogue, 4 * (BEFORE + AFTER))
    load = Load([writer.url, standby.url], token, regions)
    running = asyncio.create_task(load.run())
    try:
        await until(lambda: len(load.acked) >= BEFORE, "acknowledgements before the kill", 60)
        writer.proc.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        writer.proc.wait()
        acked_before_kill = len(load.acked)

        def after_kill() -> list[float]:
            return [t for t, n in load.ack_times if t > killed_at and n == standby.url]

        await until(lambda: len(after_kill()) >= AFTER, "acknowledgements by the standby", 60)
    finally:
        load.stop = True
        await running
    takeover = after_kill()[0] - killed_at
    print(f"\ntakeover: kill -9 -> first write accepted by the standby: {takeover * 1000:.0f} ms")
    assert takeover < 30, "the standby serves writes long after the writer died"
    assert standby.said("standby: took over as the writer at log id")
    print(next(x for x in standby.log.read_text().splitlines() if "took over" in x))
    assert acked_before_kill >= BEFORE

    reader = SqlStore(postgres_url)
    try:
        log = reader.events_after(0)
    finally:
        reader.close()
    ids = [e.id for e in log]
    assert ids == list(range(1, len(ids) + 1)), "log ids have a gap or a repeat"
    by_id = {e.id: e for e in log}
    for region, event_id in load.acked.items():  # every acknowledged event is in the log
        assert by_id[event_id].region_id == region
        assert by_id[event_id].kind is EventKind.DECLARED
    declared = Counter(e.region_id for e in log if e.kind is EventKind.DECLARED)
    assert max(declared.values()) == 1, "a declaration was committed twice"

    # Webhooks: every event exactly once, or again with the same delivery id (at least once).
    await receiver.wait_for(lambda r: {x.event_id for x in r.acknowledged()} >= set(ids), 60)
    deliveries: dict[int, set[str]] = {}
    for got in receiver.acknowledged():
        deliveries.setdefault(got.event_id, set()).add(got.headers["x-tryvoha-delivery-id"])
    assert set(deliveries) == set(ids)
    assert all(len(d) == 1 for d in deliveries.values()), "an event delivered as two deliveries"
    repeats = len(receiver.acknowledged()) - len(ids)
    print(f"webhooks: {len(ids)} events, {repeats} repeated across the takeover")
    await receiver.stop()

    # MQTT: a device connecting now sees every declared region active, at the last log id.
    last = ids[-1]
    sample = sorted(load.acked)[:: max(1, len(load.acked) // 20)]
    topics = [f"{prefix}/head"] + [f"{prefix}/status/{r}" for r in sample]

    async def converged() -> bool:
        found = await retained(prefix, topics)
        return orjson.loads(found[f"{prefix}/head"])["log_id"] == last and all(
            orjson.loads(found[f"{prefix}/status/{r}"])["status"] == "active" for r in sample
        )

    await until(converged, "MQTT retained state at the last log id", 30, poll=0.2)


@pytest.mark.slow
@pytest.mark.postgres
async def test_writer_whose_lock_connection_is_killed_refuses_and_exits(
    postgres_url: str, tmp_path: Path, nodes: list[Node]
) -> None:
    env = {"TRYVOHA_LOAD_HISTORY": "0", "TRYVOHA_KEYS": str(tmp_path / "keys")}
    writer = start_node(postgres_url, tmp_path, "writer", env)
    nodes.append(writer)
    token = make_token(postgres_url)
    body = {"region_id": "UA80000000000093317", "threat": "air_raid"}
    async with httpx.AsyncClient(timeout=10) as http:
        first = await http.post(f"{writer.url}/api/v1/alerts", json=body, headers=auth(token))
        assert first.status_code == 201
        assert kill_lock_session(postgres_url) == [(True,)]
        with contextlib.suppress(httpx.TransportError):  # it may be gone already
            again = await http.post(
                f"{writer.url}/api/v1/alerts",
                json={"region_id": "UA80000000000093317", "threat": "artillery_shelling"},
                headers=auth(token),
            )
            assert again.status_code == 503
            assert again.json()["error"]["code"] == "not_the_writer"
    assert wait_for(lambda: writer.proc.poll() is not None, "the writer exits") is not None
    assert writer.proc.returncode == 3
    assert writer.said("no longer the writer")
    reader = SqlStore(postgres_url)
    try:
        assert [e.id for e in reader.events_after(0)] == [1]
    finally:
        reader.close()


def declared(region_id: str) -> EventDraft:
    return EventDraft(
        EventKind.DECLARED, region_id, Threat.AIR_RAID, AlertStatus.ACTUAL, T0, "token:t"
    )


@pytest.mark.postgres
def test_a_fenced_off_writer_appends_nothing(postgres_url: str) -> None:
    """A writer that has not noticed it lost the lock (its `held` still says yes) is refused by
    the epoch a newer writer claimed; the newer one goes on with the next id."""
    database = writer_lock(postgres_url, "a").database
    old = SqlStore(postgres_url, writer=ProcessLock(database, "a").acquire())
    try:
        old.append(declared("UA80000000000093317"), T0)
        new = SqlStore(postgres_url)
        try:
            assert new.take_writer(ProcessLock(database, "b").acquire()) == 1
            with pytest.raises(NotTheWriter):
                old.append(declared("UA46000000000026241"), T0)
            with pytest.raises(NotTheWriter):
                old.check_writer()
            assert new.append(declared("UA46000000000026241"), T0).id == 2
            assert [e.id for e in new.events_after(0)] == [1, 2]
        finally:
            new.close()
    finally:
        old.close()


@pytest.mark.postgres
def test_a_writer_that_lost_its_lock_appends_nothing(postgres_url: str) -> None:
    store = SqlStore(postgres_url, writer=writer_lock(postgres_url, "tryvoha serve").acquire())
    try:
        store.append(declared("UA80000000000093317"), T0)
        store.writer.release()  # type: ignore[union-attr]
        with pytest.raises(NotTheWriter):
            store.append(declared("UA46000000000026241"), T0)
        assert store.last_event_id == 1
    finally:
        store.close()


def test_standby_on_sqlite_is_refused_in_one_line(tmp_path: Path) -> None:
    db = str(tmp_path / "hub.db")
    done = subprocess.run(
        [sys.executable, "-m", "tryvoha.cli", "serve", "--standby", "--port", "18765", "--db", db],
        env={**os.environ, "TRYVOHA_LOAD_HISTORY": "0"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--standby needs PostgreSQL" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "hub.db").exists()


@pytest.mark.postgres
async def test_a_writer_whose_lock_connection_is_killed_answers_503(
    postgres_url: str, catalogue: Catalogue
) -> None:
    """In process: the next command after pg_terminate_backend of the lock connection is a 503
    `not_the_writer` with Retry-After, nothing is written, and the hub tells its listeners."""
    store = SqlStore(postgres_url, writer=writer_lock(postgres_url, "tryvoha serve").acquire())
    hub = Hub(catalogue, store)
    hub.load()
    lost: list[str] = []
    hub.on_lost.append(lost.append)
    token, _ = store.create_token("op", None)
    app = create_app(hub, Settings(db=postgres_url, load_history=False))
    body = {"region_id": "UA80000000000093317", "threat": "air_raid"}
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://hub"
        ) as http:
            assert (
                await http.post("/api/v1/alerts", json=body, headers=auth(token))
            ).status_code == 201
            assert kill_lock_session(postgres_url) == [(True,)]
            body["threat"] = "artillery_shelling"
            for _ in range(2):  # the lost lock found, then the hub refusing at once
                refused = await http.post("/api/v1/alerts", json=body, headers=auth(token))
                assert refused.status_code == 503
                assert refused.json()["error"]["code"] == "not_the_writer"
                assert refused.headers["retry-after"] == "1"
    finally:
        hub.close()
    assert len(lost) == 1 and "lock was lost" in lost[0]
    assert not hub.is_writer
    reader = SqlStore(postgres_url)
    try:
        assert [e.id for e in reader.events_after(0)] == [1]
    finally:
        reader.close()


@pytest.mark.postgres
async def test_a_standby_hub_follows_refuses_and_takes_over(
    postgres_url: str, catalogue: Catalogue
) -> None:
    """In process: a standby hub folds what the writer commits, answers 503 until it holds
    the lock, and after `take_over` commits with the next id; the old writer is fenced off."""
    active = SqlStore(postgres_url, writer=writer_lock(postgres_url, "tryvoha serve").acquire())
    active.append(declared("UA80000000000093317"), T0)
    standby = Hub(catalogue, SqlStore(postgres_url), standby=True)
    standby.load()
    role = WriterRole(standby, writer_lock(postgres_url, "tryvoha serve --standby"))
    try:
        active.append(declared("UA46000000000026241"), T0)
        assert await role.follow() == 1
        assert standby.last_event_id == 2
        with pytest.raises(Rejected) as refused:
            await standby.submit(Declare("UA63000000000041885", Threat.AIR_RAID), Actor("t"))
        assert refused.value.http_status == 503 and refused.value.code == "not_the_writer"
        lock = writer_lock(postgres_url, "tryvoha serve --standby")
        assert not lock.try_acquire()  # the active writer still holds it
        active.append(declared("UA63000000000041885"), T0)  # committed, not yet followed
        active.writer.release()  # type: ignore[union-attr]
        assert lock.try_acquire()
        missed = await standby.take_over(lock)
        assert [e.id for e in missed] == [3]
        outcome = await standby.submit(Declare("UA32000000000030281", Threat.AIR_RAID), Actor("t"))
        assert outcome.event is not None and outcome.event.id == 4
        with pytest.raises(NotTheWriter):
            active.append(declared("UA05000000000010236"), T0)
    finally:
        standby.close()
        active.close()


@pytest.mark.postgres
def test_a_successors_claim_waits_for_the_append_in_flight(postgres_url: str) -> None:
    """The claim queues behind an append transaction that passed its epoch check, so what that
    append commits is visible to the successor, and every later append of the old writer is
    refused: no event is lost or doubled at the moment of a takeover."""
    database = writer_lock(postgres_url, "a").database
    old = SqlStore(postgres_url, writer=ProcessLock(database, "a").acquire())
    new = SqlStore(postgres_url)
    try:
        assert old.epoch is not None
        conn = old.engine.connect()
        in_flight = conn.begin()
        check_epoch(conn, old.epoch)  # an append of the old writer, between check and commit
        claimed: list[int] = []
        claim = threading.Thread(
            target=lambda: claimed.append(new.take_writer(ProcessLock(database, "b").acquire()))
        )
        claim.start()

        def claim_waits() -> bool:
            with new.engine.connect() as probe:
                return bool(
                    probe.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                            "'Lock' AND datname = current_database()"
                        )
                    ).scalar_one()
                )

        wait_for(claim_waits, "the claim waiting on the epoch row")
        assert not claimed
        appended = assign([declared("UA80000000000093317")], 1, T0)
        conn.execute(insert(events), [event_row(e) for e in appended])
        in_flight.commit()
        conn.close()
        claim.join(timeout=30)
        assert claimed == [1]  # the successor sees the append that was in flight
        with pytest.raises(NotTheWriter):
            old.append(declared("UA46000000000026241"), T0)
        assert new.append(declared("UA46000000000026241"), T0).id == 2
    finally:
        new.close()
        old.close()


@pytest.mark.slow
@pytest.mark.postgres
async def test_a_standby_that_finds_no_writer_writes_at_once(
    postgres_url: str, tmp_path: Path, nodes: list[Node]
) -> None:
    """Both nodes may run with --standby: the first to find the lock free is the writer."""
    env = {"TRYVOHA_LOAD_HISTORY": "0", "TRYVOHA_KEYS": str(tmp_path / "keys")}
    node = start_node(postgres_url, tmp_path, "first", env, "--standby")
    nodes.append(node)
    token = make_token(postgres_url)
    await until(lambda: node.said("standby: took over as the writer at log id 0"), "took over")
    assert not node.said("standby: waiting for")
    async with httpx.AsyncClient(timeout=10) as http:
        made = await http.post(
            f"{node.url}/api/v1/alerts",
            json={"region_id": "UA80000000000093317", "threat": "air_raid"},
            headers=auth(token),
        )
    assert made.status_code == 201
    assert made.json()["event"]["id"] == 1


@pytest.mark.postgres
def test_a_fenced_off_writer_moves_no_senders_position(postgres_url: str) -> None:
    """The senders' positions (the webhook outbox's, MQTT's) move only under the active
    writer: one that lost the lock cannot add outbox rows or set a position back."""
    database = writer_lock(postgres_url, "a").database
    old = SqlStore(postgres_url, writer=ProcessLock(database, "a").acquire())
    new = SqlStore(postgres_url)
    try:
        WebhookStore(old).enqueue([], 5, 1)
        old.set_meta_fenced(MQTT_POSITION_KEY, "5")
        new.take_writer(ProcessLock(database, "b").acquire())
        WebhookStore(new).enqueue([], 7, 1)
        new.set_meta_fenced(MQTT_POSITION_KEY, "7")
        with pytest.raises(NotTheWriter):
            WebhookStore(old).enqueue([], 6, 1)
        with pytest.raises(NotTheWriter):
            old.set_meta_fenced(MQTT_POSITION_KEY, "6")
        assert WebhookStore(new).position() == 7
        assert new.get_meta(MQTT_POSITION_KEY) == "7"
    finally:
        new.close()
        old.close()


@pytest.mark.slow
@pytest.mark.postgres
def test_the_cli_given_both_nodes_writes_through_whichever_is_the_writer(
    postgres_url: str, tmp_path: Path, catalogue: Catalogue, nodes: list[Node]
) -> None:
    """`TRYVOHA_URL=standby,writer`: the standby's 503 `not_the_writer` hands the command to the
    writer; after kill -9 of the writer the same command line reaches the standby once it took
    over. Each command is in the log once."""
    env = {"TRYVOHA_LOAD_HISTORY": "0", "TRYVOHA_KEYS": str(tmp_path / "keys")}
    writer = start_node(postgres_url, tmp_path, "writer", env)
    nodes.append(writer)
    token = make_token(postgres_url)
    standby = start_node(postgres_url, tmp_path, "standby", env, "--standby")
    nodes.append(standby)
    wait_for(lambda: standby.said("standby: waiting for tryvoha serve (pid"), "announced")
    cli_env = {"TRYVOHA_URL": f"{standby.url},{writer.url}", "TRYVOHA_TOKEN": token}

    first = CliRunner().invoke(cli, ["alert", "declare", "Sumska oblast", "--json"], env=cli_env)
    assert first.exit_code == 0, first.output
    writer.proc.send_signal(signal.SIGKILL)
    writer.proc.wait()
    second = CliRunner().invoke(cli, ["alert", "declare", "Odeska oblast", "--json"], env=cli_env)
    assert second.exit_code == 0, second.output + standby.log.read_text()[-2000:]
    assert standby.said("standby: took over")

    log = httpx.get(f"{standby.url}/api/v1/log", params={"after": 0}).json()["events"]
    declared = [e["region_id"] for e in log if e["kind"] == "declared"]
    sumy, odesa = catalogue.resolve("Sumska oblast").id, catalogue.resolve("Odeska oblast").id
    assert declared == [sumy, odesa]


def test_the_cli_refuses_a_url_list_it_cannot_use() -> None:
    for bad in ("", "ftp://x", "http://a," * 9):
        result = CliRunner().invoke(cli, ["alert", "list", "--url", bad])
        assert result.exit_code == 2, (bad, result.output)
        assert "comma-separated" in result.output
