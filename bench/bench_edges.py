"""Three edges on this machine, 57,000 SSE subscribers (19,000 on each): one alert all delivered,
and the 25-alert burst, through the shared harness (subscriber i on edge i mod 3).

The writer (`tryvoha serve --nats`, embedded SQLite), a nats-server with JetStream of its own and
three `tryvoha edge` processes all run on CPU 0; the harness runs on CPU 1 with one subscriber
process per edge (19,000 each, the per-process file limit). Every message is a real operator
event: a PATCH to the writer (as in `bench_fanout.py`), committed, relayed to JetStream, followed
by each edge and fanned out to its subscribers. Compare with nchan on two workers and the
two-node NATS cluster at 36,000 in `../shared/bench/results-peers.md`.

    .venv/bin/python bench/bench_edges.py [--runs 3] [-n 57000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_fanout as fan

EDGES = 3
PER_EDGE = 19_000


def start(cmd: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    out = open(log, "w")  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen(
        ["taskset", "-c", "0", *cmd],
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=env,
    )


def wait_caught_up(port: int, log_id: int, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            health = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).json()
            if health.get("last_applied_id", -1) >= log_id:
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"the edge on port {port} did not reach log id {log_id}")


def run(args: argparse.Namespace) -> None:
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="tryvoha-edges-"))
    db = f"sqlite:///{tmp / 'hub.db'}"
    token, oblasts = fan.prepare(db)
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "TRYVOHA_HTTP_KEEPALIVE_TIMEOUT": "300", "TRYVOHA_LOAD_HISTORY": "0"}
    procs: list[subprocess.Popen] = []
    try:
        nats_port = fan.free_port()
        nats_bin = shutil.which("nats-server") or str(bin_dir / "nats-server")
        nats_cmd = [nats_bin, "-a", "127.0.0.1", "-p", str(nats_port), "-js"]
        procs.append(start([*nats_cmd, "-sd", str(tmp / "js")], out / "nats.log", env))
        fan.wait_port(nats_port)
        nats = f"nats://127.0.0.1:{nats_port}"
        keys = ["--keys", str(tmp / "keys")]
        writer_port = fan.free_port()
        writer = [str(bin_dir / "tryvoha"), "serve", "--db", db, *keys, "--nats", nats]
        writer += ["--port", str(writer_port), "--no-history"]
        procs.append(start(writer, out / "writer.log", env))
        fan.wait_port(writer_port)
        fan.declare_oblasts(writer_port, token, oblasts)
        edge_ports = [fan.free_port() for _ in range(EDGES)]
        for i, port in enumerate(edge_ports):
            edge = [str(bin_dir / "tryvoha"), "edge", "--nats", nats, "--db", db, *keys]
            procs.append(start([*edge, "--port", str(port)], out / f"edge-{i}.log", env))
        for port in edge_ports:
            fan.wait_port(port)
            wait_caught_up(port, len(oblasts))
        pids = [p for proc in procs for p in fan.server_pids(proc)]
        subs = [f"http://127.0.0.1:{p}/api/v1/stream" for p in edge_ports]  # round robin
        cmd = ["taskset", "-c", "1", sys.executable, __file__, "--harness"]
        cmd += ["--oblasts", ",".join(oblasts), "--"]
        cmd += ["--label", f"tryvoha-sse-{EDGES}edges", "--proto", "sse"]
        cmd += ["--sub", *subs, "--pub", f"tryvoha://127.0.0.1:{writer_port}/api/v1/regions"]
        cmd += ["--pub-header", f"Authorization: Bearer {token}"]
        cmd += ["--payload-template", fan.TEMPLATE, "--runs", str(args.runs)]
        cmd += ["--per-proc", str(args.per_edge), "--out", str(out / "results-edges.jsonl")]
        cmd += ["--server-pid", *pids, "-n", *map(str, args.n)]
        subprocess.run(cmd, check=False)
    finally:
        for proc in reversed(procs):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run(
        [
            sys.executable,
            str(fan.HARNESS / "report.py"),
            "--fanout",
            str(out / "results-edges.jsonl"),
        ],
        check=False,
    )


def main() -> None:
    if "--harness" in sys.argv:
        fan.harness_main([a for a in sys.argv[1:] if a != "--harness"])
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("-n", type=int, nargs="+", default=[EDGES * PER_EDGE])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--per-edge", type=int, default=PER_EDGE, help="subscribers per edge")
    p.add_argument("--out", type=Path, default=Path("bench-edges-out"))
    run(p.parse_args())


if __name__ == "__main__":
    main()
