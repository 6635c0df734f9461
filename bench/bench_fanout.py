"""Fan-out benchmark of the live streams, through the shared harness, beside fresh peer runs.

Starts `tryvoha serve` pinned to CPU 0 (an empty SQLite log, 25 oblast alerts declared), runs
`../shared/bench/bench.py` pinned to CPU 1 against `/api/v1/stream` (SSE) and `/api/v1/ws`, then
(optionally) the peers through the harness's own `run-peers.sh`, and prints the harness's tables.

Publishing: every message is a real operator event. The harness's token goes into the `notes` of
`PATCH /api/v1/regions/{oblast}/alerts/air_raid` (the k-th message of a burst updates the k-th
oblast's alert), so it travels the whole path: HTTP, auth, decide, durable commit, bus, fan-out.
The harness only POSTs, so this script adds a publisher to it at run time (the harness itself is
used unchanged from ../shared/bench).

    .venv/bin/python bench/bench_fanout.py                       # SSE + WS, N = 1k 10k 19k
    .venv/bin/python bench/bench_fanout.py -n 36000 --workers 3 --proto sse
    .venv/bin/python bench/bench_fanout.py --peers "nchan-sse nchan-ws nats" --runs 5
    .venv/bin/python bench/bench_fanout.py --proto sse -n 1000 --peers nats --nats-same-bytes

A tryvoha event is a signed document (about 690 bytes as an SSE frame), where the harness's
peers carry a 130-byte message: what a subscriber has to read grows with it. `--nats-same-bytes`
runs NATS once more with its messages padded to the size of the hub's latest SSE event frame
(label `nats-<bytes>B`), to compare the two at equal bytes as well.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HARNESS = Path(os.environ.get("TRYVOHA_HARNESS", ROOT.parent / "shared" / "bench"))
PY = sys.executable
TEMPLATE = '{seq}|{"notes":"{token}"}'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server did not open port {port}")


def prepare(db_url: str) -> tuple[str, list[str]]:
    """An operator token, and the 25 oblasts whose alerts the burst updates."""
    sys.path.insert(0, str(ROOT / "src"))
    from tryvoha.regions import load_catalogue
    from tryvoha.store import SqlStore

    store = SqlStore(db_url)
    token, _ = store.create_token("bench", None)
    store.close()
    return token, [r.id for r in load_catalogue().oblasts[:25]]


def start_server(db_url: str, port: int, workers: int, log_path: Path) -> subprocess.Popen:
    cmd = [
        "taskset",
        "-c",
        "0",
        str(Path(PY).parent / "tryvoha"),
        "serve",
        "--db",
        db_url,
        "--port",
        str(port),
        "--no-history",
        "--workers",
        str(workers),
    ]
    log = open(log_path, "w")  # noqa: SIM115 - lives as long as the server
    # The harness keeps one publisher connection for all runs at an N; at 19,000 subscribers
    # the pause between two runs can pass the default 5 s keep-alive, so it is set to its most.
    env = {**os.environ, "TRYVOHA_HTTP_KEEPALIVE_TIMEOUT": "300"}
    return subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env
    )


def server_pids(proc: subprocess.Popen) -> list[str]:
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True)
    return [str(proc.pid), *children.stdout.split()]


def declare_oblasts(port: int, token: str, oblasts: list[str]) -> None:
    import httpx

    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        for region in oblasts:
            r = client.post(
                "/api/v1/alerts",
                json={"region_id": region, "notes": "bench"},
                headers={"Authorization": f"Bearer {token}"},
            )
            r.raise_for_status()


def event_frame_bytes(port: int) -> int:
    """Bytes of the hub's latest event as an SSE frame: what one alert costs a subscriber."""
    import httpx

    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        head = client.get("/api/v1/status").json()["log_id"]
        with client.stream("GET", "/api/v1/stream", params={"since": head - 1}) as answer:
            seen = b""
            for chunk in answer.iter_raw():
                seen += chunk
                start = seen.find(b"event: alert\n")
                end = seen.find(b"\n\n", start) if start >= 0 else -1
                if end >= 0:
                    return end + 2 - start
    raise RuntimeError("the stream ended before the latest event")


def run_ours(args: argparse.Namespace, out: Path) -> int:
    """Run the harness against a fresh hub; returns the size of its SSE event frame."""
    tmp = Path(tempfile.mkdtemp(prefix="tryvoha-fanout-"))
    db_url = f"sqlite:///{tmp / 'hub.db'}"
    token, oblasts = prepare(db_url)
    port = free_port()
    server = start_server(db_url, port, args.workers, out / "server.log")
    try:
        wait_port(port)
        time.sleep(1 + args.workers)  # followers fold the log before taking subscribers
        declare_oblasts(port, token, oblasts)
        pids = server_pids(server)
        suffix = "" if args.workers == 1 else f"-{args.workers}workers"
        if args.pub_connections > 1:
            suffix += f"-{args.pub_connections}conns"
        for proto in args.proto:
            sub = (
                f"http://127.0.0.1:{port}/api/v1/stream"
                if proto == "sse"
                else f"ws://127.0.0.1:{port}/api/v1/ws"
            )
            cmd = [
                "taskset",
                "-c",
                "1",
                PY,
                __file__,
                "--harness",
                "--oblasts",
                ",".join(oblasts),
                "--pub-connections",
                str(args.pub_connections),
                "--",
                "--label",
                f"tryvoha-{proto}{suffix}",
                "--proto",
                proto,
                "--sub",
                sub,
                "--pub",
                f"tryvoha://127.0.0.1:{port}/api/v1/regions",
                "--pub-header",
                f"Authorization: Bearer {token}",
                "--payload-template",
                TEMPLATE,
                "--runs",
                str(args.runs),
                "--out",
                str(out / "results-ours.jsonl"),
                "--server-pid",
                *pids,
                "-n",
                *map(str, args.n),
            ]
            subprocess.run(cmd, check=False)
        rss = sum(_rss_kb(p) for p in pids)
        print(f"server RSS after the runs: {rss / 1024:.0f} MB over {len(pids)} process(es)")
        return event_frame_bytes(port)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        shutil.rmtree(tmp, ignore_errors=True)


def _rss_kb(pid: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tcp_mem_kb() -> int:
    """Kernel memory of all TCP sockets (pages in /proc/net/sockstat), in KB."""
    for line in Path("/proc/net/sockstat").read_text().splitlines():
        if line.startswith("TCP:"):
            fields = line.split()
            return int(fields[fields.index("mem") + 1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    return 0


def measure_memory(args: argparse.Namespace, out: Path) -> None:
    """Server RSS per idle subscriber: RSS after N subscribers connected, minus before."""
    tmp = Path(tempfile.mkdtemp(prefix="tryvoha-mem-"))
    db_url = f"sqlite:///{tmp / 'hub.db'}"
    prepare(db_url)
    port = free_port()
    server = start_server(db_url, port, 1, out / "server-mem.log")
    try:
        wait_port(port)
        time.sleep(1)
        pid = str(server.pid)
        code = f"""
import asyncio, sys, socket
async def main():
    conns = []
    for i in range({args.memory}):
        r, w = await asyncio.open_connection("127.0.0.1", {port})
        w.write(b"GET /api/v1/stream HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
        await r.readuntil(b"\\n\\n")
        conns.append((r, w))
    print("ready", flush=True)
    sys.stdin.readline()
asyncio.run(main())
"""
        before, tcp_before = _rss_kb(pid), tcp_mem_kb()
        client = subprocess.Popen(
            ["taskset", "-c", "1", PY, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert client.stdout is not None and client.stdin is not None
        client.stdout.readline()
        time.sleep(2)
        after, tcp_after = _rss_kb(pid), tcp_mem_kb()
        client.stdin.write("\n")
        client.stdin.flush()
        client.wait(30)
        per = (after - before) * 1024 / args.memory
        print(
            f"idle subscribers: {args.memory}; server RSS {before / 1024:.1f} -> "
            f"{after / 1024:.1f} MB: {per / 1024:.2f} KB per subscriber; kernel TCP memory "
            f"(both ends) {tcp_before} -> {tcp_after} KB"
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(20)
        shutil.rmtree(tmp, ignore_errors=True)


def run_peers(args: argparse.Namespace, out: Path) -> None:
    env = dict(
        os.environ,
        PEERS=args.peers,
        NS=" ".join(map(str, args.n)),
        RUNS=str(args.runs),
        RUN=str(out / "peers"),
        PY=PY,
        OUT=str(out / "results-peers.jsonl"),
    )
    if args.n_2p:
        env["NS_2P"] = " ".join(map(str, args.n_2p))
    subprocess.run([str(HARNESS / "run-peers.sh")], env=env, cwd=out, check=False)


def padded_template(size: int) -> str:
    """The harness's default message with a `pad` field, `size` bytes once its token is in."""
    sys.path.insert(0, str(HARNESS))
    from core import DEFAULT_TEMPLATE, make_payload

    base = DEFAULT_TEMPLATE.replace('"id":', '"pad":"","id":')
    sample, _ = make_payload(base, 10_000, 24)
    return base.replace('"pad":""', '"pad":"' + "x" * max(0, size - len(sample)) + '"')


def run_nats_same_bytes(args: argparse.Namespace, out: Path, size: int) -> None:
    """NATS (the harness's peer config, pinned to CPU 0) carrying messages of `size` bytes."""
    server = subprocess.Popen(
        ["taskset", "-c", "0", "nats-server", "-c", str(HARNESS / "peers" / "nats.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_port(14222)
        url = "nats://127.0.0.1:14222/alerts"
        cmd = ["taskset", "-c", "1", PY, str(HARNESS / "bench.py"), "--label", f"nats-{size}B"]
        cmd += ["--proto", "nats", "--sub", url, "--pub", url, "--runs", str(args.runs)]
        cmd += ["--payload-template", padded_template(size), "--server-pid", str(server.pid)]
        cmd += ["--out", str(out / "results-peers.jsonl"), "-n", *map(str, args.n)]
        subprocess.run(cmd, check=False)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(20)


def harness_main(argv: list[str]) -> None:
    """Inside the harness process (CPU 1): add the PATCH publisher, then run bench.py's main."""
    split = argv.index("--")
    own = argparse.ArgumentParser()
    own.add_argument("--oblasts", required=True)
    own.add_argument("--pub-connections", type=int, default=1)
    mine = own.parse_args(argv[:split])
    sys.path.insert(0, str(HARNESS))
    import uvloop
    from proto_http import HTTPPub

    import bench  # the shared harness, unchanged

    oblasts = mine.oblasts.split(",")

    class PatchPub(HTTPPub):
        """Each payload `seq|{json}` becomes a PATCH of the seq-th oblast's air-raid alert."""

        def __init__(self, url: str, opts: argparse.Namespace) -> None:
            super().__init__(url.replace("tryvoha://", "http://", 1), opts)
            self.prefix = self.head.split(b" ", 2)[1]
            rest = self.head.split(b"\r\n", 1)[1]
            self.heads = [
                b"PATCH "
                + self.prefix
                + b"/"
                + o.encode()
                + b"/alerts/air_raid HTTP/1.1\r\n"
                + rest
                for o in oblasts
            ]

        def send(self, payload: bytes) -> None:
            seq, _, body = payload.partition(b"|")
            head = self.heads[int(seq) % len(self.heads)]
            self.transport.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
            self.sent += 1

    class ParallelPatchPub:
        """The burst's PATCHes spread over K keep-alive connections (the k-th message on
        connection k mod K), as K operators or one client with a connection pool send them;
        with K = 1 it is `PatchPub` (every PATCH pipelined on one connection)."""

        def __init__(self, url: str, opts: argparse.Namespace) -> None:
            self.pubs = [PatchPub(url, opts) for _ in range(mine.pub_connections)]
            self.next = 0

        async def connect(self) -> ParallelPatchPub:
            for pub in self.pubs:
                await pub.connect()
            return self

        def send(self, payload: bytes) -> None:
            self.pubs[self.next % len(self.pubs)].send(payload)
            self.next += 1

        async def confirm(self, timeout_s: float = 10) -> list[object]:
            self.next = 0
            found = await asyncio.gather(*(p.confirm(timeout_s) for p in self.pubs))
            return [bad for part in found for bad in part]

        def close(self) -> None:
            for pub in self.pubs:
                pub.close()

    bench.PUBLISHERS["tryvoha"] = PatchPub if mine.pub_connections == 1 else ParallelPatchPub
    uvloop.run(bench.main(bench.parse_args(argv[split + 1 :])))


def main() -> None:
    if "--harness" in sys.argv:
        harness_main([a for a in sys.argv[1:] if a != "--harness"])
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--proto", nargs="+", default=["sse", "ws"], choices=["sse", "ws"])
    p.add_argument("-n", type=int, nargs="+", default=[1000, 10000, 19000])
    p.add_argument("--n-2p", type=int, nargs="*", default=[], help="N for the -2p peers")
    p.add_argument("--workers", type=int, default=1, help="tryvoha serve --workers")
    p.add_argument(
        "--pub-connections",
        type=int,
        default=1,
        choices=range(1, 26),
        metavar="1..25",
        help="operator connections the burst's PATCHes are spread over (1: all pipelined on one)",
    )
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--peers", default="", help='e.g. "nchan-sse nchan-ws nats" (run-peers.sh)')
    p.add_argument("--no-ours", action="store_true", help="only the peers")
    p.add_argument(
        "--nats-same-bytes",
        action="store_true",
        help="also run NATS with messages as large as the hub's SSE event frame",
    )
    p.add_argument("--memory", type=int, default=0, help="measure RSS per idle subscriber, N subs")
    p.add_argument("--out", type=Path, default=Path("bench-fanout-out"))
    args = p.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    if args.memory:
        measure_memory(args, out)
        return
    size = None if args.no_ours else run_ours(args, out)
    if args.peers:
        run_peers(args, out)
    if args.nats_same_bytes and size is not None:
        run_nats_same_bytes(args, out, size)
    files = [
        str(f) for f in (out / "results-ours.jsonl", out / "results-peers.jsonl") if f.exists()
    ]
    if files:
        merged = out / "results-all.jsonl"
        merged.write_text("".join(Path(f).read_text() for f in files))
        subprocess.run([PY, str(HARNESS / "report.py"), "--fanout", str(merged)], check=False)


if __name__ == "__main__":
    main()
