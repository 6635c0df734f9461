"""One writer per database: a second writer is refused with a message naming the first, the lock
passes on when the first closes or dies (kill -9), and readers never wait for it. On SQLite
(a file lock) and PostgreSQL (an advisory lock) alike, and through the commands that write."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from tryvoha.alerts.model import AlertStatus, EventDraft, EventKind, Threat
from tryvoha.cli import app as cli
from tryvoha.history.bundled import OFFICIAL_DATA
from tryvoha.regions import Catalogue
from tryvoha.store import SqlStore, WriterLocked, acquire_writer, writer_lock
from tryvoha.store.writer import SESSION_PROBES, WRITER_LOCK_KEY

from .conftest import PG_ADMIN_URL, auth, start_live_hub
from .waiting import wait_for

T0 = datetime(2024, 5, 1, 1, 0, tzinfo=UTC)
HOLDER = """
import sys, time
from tryvoha.store import acquire_writer
acquire_writer(sys.argv[1], "tryvoha serve")
print("held", flush=True)
time.sleep(600)
"""


def declared(region_id: str) -> EventDraft:
    return EventDraft(
        EventKind.DECLARED, region_id, Threat.AIR_RAID, AlertStatus.ACTUAL, T0, "token:t"
    )


@pytest.fixture
def holder_process(db_url: str) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the writer lock of `db_url` until it is killed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, db_url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_a_second_writer_is_refused_naming_the_first(db_url: str, catalogue: Catalogue) -> None:
    first = acquire_writer(db_url, "tryvoha serve")
    writer = SqlStore(db_url, writer=first)
    try:
        assert first.held
        with pytest.raises(WriterLocked) as refused:
            acquire_writer(db_url, "tryvoha import")
        message = str(refused.value)
        assert "already has a writer: tryvoha serve (pid" in message
        assert f"pid {os.getpid()} on {socket.gethostname()}, since " in message
        assert "stop that one first" in message
        assert not writer_lock(db_url, "standby").try_acquire()
        # Readers need no lock: they open the database and see what the writer appends.
        appended = writer.append(declared(catalogue.oblasts[0].id), T0)
        reader = SqlStore(db_url)
        try:
            assert reader.last_event_id == appended.id
            assert [e.id for e in reader.events_after(0)] == [appended.id]
        finally:
            reader.close()
    finally:
        writer.close()  # closing the writer's store lets the lock go
    assert not first.held
    second = writer_lock(db_url, "tryvoha import")
    assert second.try_acquire() and second.held
    second.release()


def test_a_standby_waits_for_the_lock_and_gives_up_at_its_timeout(db_url: str) -> None:
    active = acquire_writer(db_url, "tryvoha serve")
    standby = writer_lock(db_url, "standby")
    assert standby.wait_acquire(timeout=0.3, poll=0.05) is False
    assert not standby.held
    active.release()
    assert standby.wait_acquire(timeout=30, poll=0.05) is True
    assert standby.held
    with pytest.raises(WriterLocked, match="already has a writer: standby"):
        acquire_writer(db_url, "tryvoha serve")
    standby.release()


def test_the_lock_of_a_killed_writer_passes_to_a_waiting_one(
    db_url: str, holder_process: subprocess.Popen[str]
) -> None:
    with pytest.raises(WriterLocked) as refused:
        acquire_writer(db_url, "tryvoha import")
    assert f"tryvoha serve (pid {holder_process.pid} on {socket.gethostname()}" in str(
        refused.value
    )
    reader = SqlStore(db_url)  # the dying writer holds no reader back
    reader.close()
    standby = writer_lock(db_url, "standby")
    os.kill(holder_process.pid, signal.SIGKILL)
    assert standby.wait_acquire(timeout=30, poll=0.05)
    assert standby.held
    standby.release()


@pytest.mark.postgres
def test_the_server_probes_the_lock_session_so_a_vanished_writer_loses_it(
    postgres_url: str,
) -> None:
    """Nothing closes the lock connection of a writer whose machine vanished: the server drops
    it, and the lock, only when its keepalive probes go unanswered, which by its defaults starts
    after two hours. The lock session sets the server's probes for itself; read back from the
    server, as it applies them to that session."""
    lock = acquire_writer(postgres_url, "tryvoha serve")
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        query = text("SELECT name, setting FROM pg_settings WHERE name LIKE 'tcp\\_%'")
        with admin.connect() as conn:  # an ordinary session keeps the server's defaults
            defaults = dict(conn.execute(query).all())
        applied = dict(lock._connection().execute(query).all())  # the lock's session
        assert applied == {name: str(value) for name, value in SESSION_PROBES.items()}
        assert defaults != applied
        idle, interval, count = (SESSION_PROBES[k] for k in list(SESSION_PROBES)[:3])
        assert idle + interval * count <= 10, "a vanished writer's lock goes within about 10 s"
        assert lock.held
        # The store's sessions too (an append in flight holds locks the successor waits for),
        # with any options the URL gives kept.
        url = f"{postgres_url}?options=-c%20statement_timeout%3D7000"
        store = SqlStore(url)
        try:
            with store.engine.connect() as conn:
                mine = dict(conn.execute(query).all())
                timeout = conn.execute(text("SHOW statement_timeout")).scalar_one()
            assert mine == applied
            assert timeout == "7s"
        finally:
            store.close()
    finally:
        lock.release()
        admin.dispose()


@pytest.mark.postgres
def test_a_writer_that_lost_its_lock_connection_says_so(postgres_url: str) -> None:
    lock = acquire_writer(postgres_url, "tryvoha serve")
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        assert lock.held
        name = postgres_url.rsplit("/", 1)[1]
        with admin.connect() as conn:
            ended = conn.execute(
                text(
                    "SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_database d "
                    "ON d.oid = l.database WHERE d.datname = :name AND l.locktype = 'advisory' "
                    "AND l.objid = :key"
                ),
                {"name": name, "key": WRITER_LOCK_KEY},
            ).scalars()
            assert list(ended) == [True]
        wait_for(lambda: not lock.held, "the lock released", timeout=30)
        taken = writer_lock(postgres_url, "standby")
        assert taken.try_acquire()
        taken.release()
        assert lock.try_acquire(), "the lost lock is taken again on a fresh connection"
        lock.release()
    finally:
        admin.dispose()


def test_commands_that_write_the_log_are_refused_beside_a_running_hub(
    tmp_path: Path, catalogue: Catalogue
) -> None:
    """Beside a running `tryvoha serve`: a second serve, `import` and `log repair` are refused
    naming it; `log check` and tokens work (a token made beside the hub is usable at once);
    once the hub is killed, the log can be repaired."""
    db = str(tmp_path / "hub.db")
    hub = start_live_hub(db, "--no-history")
    runner = CliRunner()
    try:
        named = f"tryvoha serve (pid {hub.proc.pid} on {socket.gethostname()}"  # type: ignore[attr-defined]
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "tryvoha.cli",
                "serve",
                "--db",
                db,
                "--no-history",
                "--port",
                "9",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert second.returncode == 2
        assert "Cannot start" in second.stderr and named in second.stderr
        for command in (["import", "official", str(OFFICIAL_DATA)], ["log", "repair"]):
            refused = runner.invoke(cli, [*command, "--db", db])
            assert refused.exit_code == 2, refused.output
            assert "already has a writer" in refused.output and named in refused.output
        assert runner.invoke(cli, ["log", "check", "--db", db]).exit_code == 0
        made = runner.invoke(cli, ["token", "create", "beside", "--all-regions", "--db", db])
        assert made.exit_code == 0, made.output
        made = runner.invoke(
            cli, ["token", "create", "duty", "--all-regions", "--db", db, "--json"]
        )
        token = orjson.loads(made.stdout)["token"]
        answer = httpx.post(
            f"{hub.url}/api/v1/alerts",
            json={"region_id": catalogue.oblasts[0].id, "threat": "air_raid", "status": "test"},
            headers=auth(token),
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        assert runner.invoke(cli, ["token", "revoke", "beside", "--db", db]).exit_code == 0
    finally:
        hub.proc.kill()  # type: ignore[attr-defined]
        hub.proc.wait(timeout=30)  # type: ignore[attr-defined]
    repaired = runner.invoke(cli, ["log", "repair", "--db", db])
    assert repaired.exit_code == 0, repaired.output
    assert "nothing to repair" in repaired.output
