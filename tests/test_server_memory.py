"""Memory stays flat under junk: 100,000 requests without a key, with made-up keys, or with ever
new spellings of paths, against `tryvoha serve`; its RSS is read from /proc."""

from __future__ import annotations

import itertools
import socket
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tryvoha.store import SqlStore

from .conftest import LiveHub, start_live_hub

pytestmark = pytest.mark.slow

BATCH = 200
CONNECTIONS = 4


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def junk(start: int, count: int, token: str, uids: tuple[int, ...]) -> Iterator[bytes]:
    """`count` requests, each path or key new, cycling through five kinds of junk."""
    for n in range(start, start + count):
        kind, m = n % 5, n // 5
        if kind == 0:  # no key, a new location uid every time
            yield b"GET /v1/iot/active_air_raid_alerts/%d.json HTTP/1.1\r\nHost: h\r\n\r\n" % n
        elif kind == 1:  # a valid key, the same few regions spelt with ever other zeros
            zeros = b"0" * (m % 7000)
            uid = uids[m // 7000 % len(uids)]
            yield (
                b"GET /v2/iot/active_air_raid_alerts/%s%d.json?token=%s HTTP/1.1\r\nHost: h\r\n\r\n"
                % (zeros, uid, token.encode())
            )
        elif kind == 2:  # a made-up key, new every time
            yield (
                b"GET /api/v3/alerts/31 HTTP/1.1\r\nHost: h\r\nAuthorization: junk-%d-%s\r\n\r\n"
                % (n, b"k" * 40)
            )
        elif kind == 3:  # an unknown ukrainealarm id, keyless
            yield b"GET /api/v3/alerts/00%d HTTP/1.1\r\nHost: h\r\n\r\n" % n
        else:  # an unknown path of tryvoha's own API
            yield b"GET /api/v1/regions/UA-%d HTTP/1.1\r\nHost: h\r\n\r\n" % n


def send_all(hub: LiveHub, requests: Iterable[bytes]) -> int:
    """Pipeline the requests over one connection, `BATCH` at a time; count the answers."""
    answered = 0
    with socket.create_connection(("127.0.0.1", hub.port), timeout=30) as sock:
        requests = iter(requests)
        while batch := list(itertools.islice(requests, BATCH)):
            sock.sendall(b"".join(batch))
            data = b""
            while data.count(b"HTTP/1.1 ") < len(batch) or not _complete(data):
                chunk = sock.recv(1 << 20)
                assert chunk, "the hub closed a connection it should keep"
                data += chunk
            statuses = [part[:3] for part in data.split(b"HTTP/1.1 ")[1:]]
            assert all(s in (b"200", b"401", b"404", b"429") for s in statuses), set(statuses)
            answered += len(statuses)
    return answered


def _complete(data: bytes) -> bool:
    last = data.rsplit(b"HTTP/1.1 ", 1)[-1]
    head, sep, body = last.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return True


def flood(hub: LiveHub, start: int, count: int, token: str, uids: tuple[int, ...]) -> int:
    share = count // CONNECTIONS
    with ThreadPoolExecutor(CONNECTIONS) as pool:
        runs = [
            pool.submit(send_all, hub, junk(start + i * share, share, token, uids))
            for i in range(CONNECTIONS)
        ]
        return sum(run.result() for run in runs)


def test_rss_flat_over_100k_junk_requests(tmp_path: Path) -> None:
    db = tmp_path / "junk.db"
    store = SqlStore(f"sqlite:///{db}")
    token, _ = store.create_token("led-map", [])
    store.close()
    env = {"TRYVOHA_COMPAT_AIU_PER_MIN": "0", "TRYVOHA_COMPAT_KEYLESS_PER_5MIN": "0"}
    hub = start_live_hub(str(db), "--no-history", env=env)
    pid = hub.proc.pid  # type: ignore[attr-defined]
    try:
        # Warm up (imports, pools, allocator arenas) with other requests than those measured.
        assert flood(hub, 10_000_000, 20_000, token, (16, 22, 27)) == 20_000
        before = rss_kib(pid)
        assert flood(hub, 0, 100_000, token, (4, 8, 9, 31, 279)) == 100_000
        after = rss_kib(pid)
    finally:
        hub.proc.terminate()  # type: ignore[attr-defined]
        hub.proc.wait(timeout=10)  # type: ignore[attr-defined]
    grown_mib = (after - before) / 1024
    print(f"RSS before {before / 1024:.1f} MiB, after {after / 1024:.1f} MiB: {grown_mib:+.1f} MiB")
    assert grown_mib < 10
