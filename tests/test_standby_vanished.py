"""A writer whose machine vanishes: its network goes silent (no FIN, no RST), as when the host
loses power or its link. Nothing closes its lock connection, so only the database's own probes
of that session can find it dead: the standby then takes over within seconds, not hours, and
when the old machine comes back it writes nothing more.

The writer runs in a network namespace of its own (its "machine"), joined to this one by a veth
pair, on a private PostgreSQL that listens on the link (the machine's own listens on 127.0.0.1
only); the vanishing is that machine's link going down. Namespaces need root, as CI has."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tryvoha.alerts.model import EventKind
from tryvoha.regions import Catalogue
from tryvoha.store import SqlStore

from .conftest import auth, free_port, service_up
from .test_standby import Node, hromadas, make_token, start_node
from .waiting import until, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def _need_root_networking() -> None:
    """Skip locally without root or iproute2; in CI (CI=true) their absence is a failure."""
    if os.geteuid() == 0 and shutil.which("ip") is not None:
        return
    message = "a vanishing machine is simulated with network namespaces: needs root and `ip`"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@dataclass(frozen=True)
class FarHost:
    """A network namespace on a /30 of its own: `address` is the far machine's, `gateway`
    this side's end of the link."""

    namespace: str
    link: str
    """The far machine's end of the veth pair (inside `namespace`)."""
    address: str
    gateway: str
    network: str

    def run(self, *cmd: str) -> list[str]:
        return ["ip", "netns", "exec", self.namespace, *cmd]

    def vanish(self) -> None:
        ip("-n", self.namespace, "link", "set", self.link, "down")

    def come_back(self) -> None:
        ip("-n", self.namespace, "link", "set", self.link, "up")


@pytest.fixture
def far_host() -> Iterator[FarHost]:
    _need_root_networking()
    tag = uuid.uuid4().hex[:6]
    subnet = random.randrange(1, 250)
    host = FarHost(
        namespace=f"tryvoha-{tag}",
        link=f"tvf{tag}",
        address=f"10.77.{subnet}.2",
        gateway=f"10.77.{subnet}.1",
        network=f"10.77.{subnet}.0/30",
    )
    near = f"tvn{tag}"
    ip("netns", "add", host.namespace)
    try:
        ip("link", "add", near, "type", "veth", "peer", "name", host.link, "netns", host.namespace)
        ip("addr", "add", f"{host.gateway}/30", "dev", near)
        ip("link", "set", near, "up")
        ip("-n", host.namespace, "addr", "add", f"{host.address}/30", "dev", host.link)
        ip("-n", host.namespace, "link", "set", host.link, "up")
        ip("-n", host.namespace, "link", "set", "lo", "up")
        yield host
    finally:
        pids = subprocess.run(
            ["ip", "netns", "pids", host.namespace], capture_output=True, text=True
        ).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        subprocess.run(["ip", "link", "del", near], capture_output=True)
        subprocess.run(["ip", "netns", "del", host.namespace], capture_output=True)


@dataclass(frozen=True)
class PrivatePostgres:
    port: int
    far_host: FarHost

    @property
    def near_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def far_url(self) -> str:
        """How the far machine reaches it: over the link."""
        return f"postgresql://postgres@{self.far_host.gateway}:{self.port}/postgres"


@pytest.fixture
def private_postgres(far_host: FarHost) -> Iterator[PrivatePostgres]:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    assert found, "PostgreSQL's server programs are not under /usr/lib/postgresql"
    bindir = found[-1].parent
    root = Path(tempfile.mkdtemp(prefix="tryvoha-pg-"))
    root.chmod(0o755)
    shutil.chown(root, "postgres", "postgres")
    data = root / "data"
    as_postgres = {"user": "postgres", "group": "postgres", "extra_groups": []}
    subprocess.run(
        [bindir / "initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"],
        check=True,
        capture_output=True,
        cwd=root,
        **as_postgres,  # type: ignore[arg-type]
    )
    with (data / "pg_hba.conf").open("a") as hba:
        hba.write(f"host all all {far_host.network} trust\n")
    port = free_port()
    log = (root / "postgres.log").open("wb")
    server = subprocess.Popen(
        [
            bindir / "postgres",
            "-D",
            data,
            "-p",
            str(port),
            "-k",
            root,
            "-c",
            f"listen_addresses=127.0.0.1,{far_host.gateway}",
            "-c",
            "fsync=off",
        ],
        stdout=log,
        stderr=log,
        cwd=root,
        **as_postgres,  # type: ignore[arg-type]
    )
    try:
        wait_for(lambda: service_up(port), "the private PostgreSQL listening", timeout=60)
        yield PrivatePostgres(port, far_host)
    finally:
        server.send_signal(signal.SIGQUIT)  # immediate shutdown: the far sessions may hang
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def start_far_node(host: FarHost, db: str, tmp_path: Path, env: dict[str, str]) -> Node:
    """`tryvoha serve` on the far machine, listening on its address."""
    port = free_port()
    log = tmp_path / "far-writer.log"
    cmd = host.run(
        sys.executable, "-m", "tryvoha.cli", "serve", "--db", db, "--host", host.address,
        "--port", str(port),
    )  # fmt: skip
    with log.open("wb") as err:
        proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=err, stderr=err)
    node = Node(proc, f"http://{host.address}:{port}", log)
    try:
        wait_for(
            lambda: proc.poll() is not None or service_up(port, host.address),
            "the far writer listening",
            timeout=60,
        )
    except AssertionError:
        node.stop()
        raise
    assert proc.poll() is None, f"the far writer exited: {log.read_text()[-2000:]}"
    return node


async def test_a_writer_whose_machine_vanishes_loses_the_lock_and_writes_nothing_after(
    far_host: FarHost,
    private_postgres: PrivatePostgres,
    tmp_path: Path,
    catalogue: Catalogue,
    nodes: list[Node],
) -> None:
    env = {"TRYVOHA_LOAD_HISTORY": "0", "TRYVOHA_KEYS": str(tmp_path / "keys")}
    writer = start_far_node(far_host, private_postgres.far_url, tmp_path, env)
    nodes.append(writer)
    token = make_token(private_postgres.near_url)
    standby = start_node(private_postgres.near_url, tmp_path, "standby", env, "--standby")
    nodes.append(standby)
    await until(lambda: standby.said("standby: waiting for tryvoha serve (pid"), "announced")
    regions = hromadas(catalogue, 20)
    acked: dict[str, int] = {}

    async def declare(http: httpx.AsyncClient, node: Node) -> httpx.Response:
        """The next region's declaration (the same region again until one is acknowledged)."""
        region = regions[len(acked)]
        answer = await http.post(
            f"{node.url}/api/v1/alerts",
            json={"region_id": region, "threat": "air_raid"},
            headers=auth(token),
        )
        if answer.status_code == 201:
            acked[region] = answer.json()["event"]["id"]
        return answer

    async with httpx.AsyncClient(timeout=5.0) as http:
        for _ in range(3):
            assert (await declare(http, writer)).status_code == 201

        far_host.vanish()
        vanished_at = time.monotonic()

        async def standby_writes() -> bool:
            answer = await declare(http, standby)
            assert answer.status_code in (201, 503), answer.text
            return answer.status_code == 201

        await until(standby_writes, "the standby accepting writes", timeout=90, poll=0.2)
        took = time.monotonic() - vanished_at
        print(f"\nwriter's machine vanished -> first write accepted by the standby: {took:.1f} s")
        assert standby.said("standby: took over as the writer at log id")
        assert writer.proc.poll() is None, "the old writer was to be cut off, not dead"
        for _ in range(3):
            assert (await declare(http, standby)).status_code == 201

        # The old machine comes back: whatever it is asked, it writes nothing more.
        far_host.come_back()
        answers: list[int] = []

        async def old_writer_refuses() -> bool:
            if writer.proc.poll() is not None:
                return True
            try:
                answer = await declare(http, writer)
            except httpx.TransportError:
                return False
            answers.append(answer.status_code)
            return answer.status_code == 503 and answer.json()["error"]["code"] == "not_the_writer"

        await until(old_writer_refuses, "the old writer refusing", timeout=60, poll=0.2)
        print(f"the old writer, back: answers {answers}, exited: {writer.proc.poll() is not None}")
        assert 201 not in answers, "the old writer acknowledged a write after the takeover"
        assert all(code == 503 for code in answers), answers

    reader = SqlStore(private_postgres.near_url)
    try:
        log = reader.events_after(0)
    finally:
        reader.close()
    ids = [e.id for e in log]
    assert ids == list(range(1, len(ids) + 1)), "log ids have a gap or a repeat"
    declared = {e.region_id: e.id for e in log if e.kind is EventKind.DECLARED}
    assert declared == acked, "the log holds other declarations than those acknowledged"
