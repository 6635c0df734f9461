#!/usr/bin/env python3
"""The IoT oblast string under polling load: tryvoha's alerts.in.ua surface beside nginx.

LED maps poll `/v1/iot/active_air_raid_alerts_by_oblast.json` every few seconds. This runs wrk
against it, plain (200 + body) and conditional (304 via the exact `If-Modified-Since` the clients
send), with the hub pinned to CPU 0 and wrk to CPU 1, then does the same against nginx serving
the identical bytes as a static file (also CPU 0, one worker). Needs `wrk` and `nginx`.

  .venv/bin/python bench/bench_compat.py --duration 10 --repeat 3 --out bench/results/compat.jsonl

The hub runs as `tryvoha serve` does (uvicorn, uvloop, the hub's httptools protocol), with a
real key check and a per-token rate limit set high enough never to trigger, so that path is
measured too.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PATH = "/v1/iot/active_air_raid_alerts_by_oblast.json"
NGINX_CONF = """
worker_processes 1;
pid {run}/nginx.pid;
error_log {run}/error.log warn;
events {{ worker_connections 4096; multi_accept on; }}
http {{
    access_log off;
    keepalive_timeout 600s;
    keepalive_requests 10000000;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{ root {run}/www; default_type application/json; }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(db: str, port: int, token_file: str) -> None:
    """Child mode: a hub with a few alerts (so the string has A and P), served by uvicorn."""
    import uvicorn

    from tryvoha.api.app import create_app
    from tryvoha.compat.ids import crosswalk
    from tryvoha.config import Settings
    from tryvoha.hub import Hub
    from tryvoha.regions import load_catalogue
    from tryvoha.serve import uvicorn_config
    from tryvoha.store import SqlStore

    os.environ["TRYVOHA_COMPAT_AIU_PER_MIN"] = str(10**9)
    catalogue = load_catalogue()
    hub = Hub(catalogue, SqlStore(db))
    hub.load()
    token, _ = hub.store.create_token(f"bench-{os.getpid()}", [])
    Path(token_file).write_text(token)
    app = create_app(hub, Settings(db=db, load_history=False))
    cw = crosswalk(catalogue)

    async def seed() -> None:
        from tryvoha.alerts.commands import Actor, Declare
        from tryvoha.alerts.model import Threat

        actor = Actor(originator="bench", scopes=None)
        for region in (cw.by_uid[16], cw.by_uid[31], cw.by_ua_id["279"]):
            if not any(a.region_id == region.id for a in hub.open_alerts()):
                await hub.submit(Declare(region_id=region.id, threat=Threat.AIR_RAID), actor)

    asyncio.run(seed())
    config = uvicorn_config(app, "127.0.0.1", port, lifespan="off", backlog=4096)
    uvicorn.Server(config).run()


def probe(port: int, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", PATH, headers=headers)
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, body, {k.lower(): v for k, v in r.getheaders()}


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("server did not start")


def wrk(port: int, headers: dict[str, str], args: argparse.Namespace) -> dict:
    cmd = [
        "taskset",
        "-c",
        args.wrk_cpu,
        "wrk",
        "-t1",
        f"-c{args.connections}",
        f"-d{args.duration}s",
    ]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    cmd.append(f"http://127.0.0.1:{port}{PATH}")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + 60).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    latency = re.search(r"Latency\s+([\d.]+\w+)", out)
    return {"rps": rate, "non_2xx_3xx": int(bad[1]) if bad else 0, "latency_avg": latency[1]}


def prepare(label: str, port: int, auth: dict[str, str]) -> dict[str, dict[str, str]]:
    status, body, fields = probe(port, auth)
    assert status == 200 and len(body) == 29, (label, status, body)
    conditional = {**auth, "If-Modified-Since": fields["last-modified"]}
    assert probe(port, conditional)[0] == 304, f"{label}: If-Modified-Since gave no 304"
    return {"200": auth, "304": conditional}


def measure(targets: dict[str, tuple[int, dict[str, str]]], args: argparse.Namespace) -> dict:
    """Runs alternate between the servers (A B A B …) so a change in machine load hits both."""
    headers = {label: prepare(label, port, auth) for label, (port, auth) in targets.items()}
    results: dict = {label: {} for label in targets}
    for mode in ("200", "304"):
        runs: dict[str, list[dict]] = {label: [] for label in targets}
        for _ in range(args.repeat):
            for label, (port, _) in targets.items():
                run = wrk(port, headers[label][mode], args)
                print(f"[{label}] {mode}: {run}", flush=True)
                runs[label].append(run)
        for label, found in runs.items():
            found.sort(key=lambda r: r["rps"])
            results[label][mode] = {**found[len(found) // 2], "all_rps": [r["rps"] for r in found]}
    return results


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--connections", type=int, default=100)
    p.add_argument("--server-cpu", default="0")
    p.add_argument("--wrk-cpu", default="1")
    p.add_argument("--out")
    p.add_argument("--serve", nargs=3, metavar=("DB", "PORT", "TOKEN_FILE"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]), args.serve[2])
        return
    for tool in ("wrk", "nginx", "taskset"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing (apt-get install wrk nginx)")
    run = Path(tempfile.mkdtemp(prefix="bench-compat-"))
    hub_port, nginx_port = free_port(), free_port()
    token_file = run / "token"
    hub = subprocess.Popen(
        [
            "taskset",
            "-c",
            args.server_cpu,
            sys.executable,
            __file__,
            "--serve",
            f"sqlite:///{run / 'hub.db'}",
            str(hub_port),
            str(token_file),
        ],
    )
    nginx = None
    try:
        wait_port(hub_port, hub)
        auth = {"Authorization": f"Bearer {token_file.read_text()}"}
        _, body, _ = probe(hub_port, auth)
        run.chmod(0o755)  # nginx workers run as an unprivileged user
        (run / "www" / "v1" / "iot").mkdir(parents=True)
        (run / "www" / PATH.lstrip("/")).write_bytes(body)
        (run / "nginx.conf").write_text(NGINX_CONF.format(run=run, port=nginx_port))
        nginx = subprocess.Popen(
            [
                "taskset",
                "-c",
                args.server_cpu,
                "nginx",
                "-p",
                str(run),
                "-c",
                str(run / "nginx.conf"),
                "-g",
                "daemon off;",
            ],
        )
        wait_port(nginx_port, nginx)
        results = measure({"nginx": (nginx_port, {}), "tryvoha": (hub_port, auth)}, args)
    finally:
        for proc in (nginx, hub):
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(10)
    ratio = {m: results["tryvoha"][m]["rps"] / results["nginx"][m]["rps"] for m in ("200", "304")}
    summary = {
        "date": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()),
        "load_before": os.getloadavg(),
        "connections": args.connections,
        "duration_s": args.duration,
        "results": results,
        "tryvoha_vs_nginx": ratio,
    }
    print(json.dumps({"tryvoha_vs_nginx": ratio}))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "a") as f:
            f.write(json.dumps(summary) + "\n")


if __name__ == "__main__":
    main()
