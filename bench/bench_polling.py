"""Polling and commit-to-visible benchmarks for the alert core.

1. wrk against `GET /api/v1/status/compact` (200 and 304), the hub pinned to CPU 0 and wrk to
   CPU 1, beside nginx (1 worker, CPU 0) serving the very same bytes as a static file with an ETag,
   in the same run, through the shared harness `../shared/bench/poll.py`.
2. Declare → visible: time from sending a declaration to the first status poll that shows it,
   over many declare/end cycles, on the embedded SQLite store.

    .venv/bin/python bench/bench_polling.py [--duration 10] [--cycles 500]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT.parent / "shared" / "bench"
NGINX_CONF = """
worker_processes 1;
daemon off;
error_log {dir}/error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  default_type application/json;
  server {{
    listen 127.0.0.1:{port};
    root {dir}/www;
    etag on;
  }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def start_hub(workdir: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "TRYVOHA_LOAD_HISTORY": "0"}
    cmd = [
        "taskset",
        "-c",
        "0",
        str(ROOT / ".venv/bin/tryvoha"),
        "serve",
        "--db",
        str(workdir / "bench.db"),
        "--port",
        str(port),
        "--no-history",
    ]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_token(workdir: Path) -> str:
    out = subprocess.run(
        [
            str(ROOT / ".venv/bin/tryvoha"),
            "token",
            "create",
            "bench",
            "--all-regions",
            "--json",
            "--db",
            str(workdir / "bench.db"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)["token"]


def poll(url: str, label: str, pids: list[int], duration: int, out: Path) -> dict:
    cmd = [
        sys.executable,
        str(HARNESS / "poll.py"),
        "--url",
        url,
        "--label",
        label,
        "--server-pid",
        *map(str, pids),
        "--duration",
        str(duration),
        "--repeat",
        "3",
        "--out",
        str(out),
    ]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text().strip().splitlines()[-1])


def declare_to_visible(base: str, token: str, oblasts: list[str], cycles: int) -> list[float]:
    """Milliseconds from sending a declaration until the compact status shows it."""
    headers = {"Authorization": f"Bearer {token}"}
    samples = []
    with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
        for n in range(cycles):
            region = oblasts[n % len(oblasts)]
            t0 = time.perf_counter()
            r = client.post("/api/v1/alerts", json={"region_id": region})
            assert r.status_code == 201, r.text
            while region not in client.get("/api/v1/status/compact").text:
                pass
            samples.append((time.perf_counter() - t0) * 1000)
            client.post(f"/api/v1/regions/{region}/alerts/air_raid/end")
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--cycles", type=int, default=500)
    args = parser.parse_args()
    if not HARNESS.exists() or not shutil.which("wrk") or not shutil.which("nginx"):
        raise SystemExit("needs ../shared/bench, wrk and nginx (apt-get install wrk nginx)")

    workdir = Path(tempfile.mkdtemp(prefix="tryvoha-bench-"))
    workdir.chmod(0o755)  # nginx workers run unprivileged and must read the file
    hub_port = free_port()
    hub = start_hub(workdir, hub_port)
    base = f"http://127.0.0.1:{hub_port}"
    nginx = None
    try:
        wait_up(base + "/api/v1/status/compact")
        token = make_token(workdir)
        oblasts = [
            r["id"] for r in httpx.get(base + "/api/v1/regions?level=oblast").json()["regions"]
        ]
        headers = {"Authorization": f"Bearer {token}"}
        for region in oblasts[:8]:  # a realistic night: several oblasts under alert
            httpx.post(base + "/api/v1/alerts", json={"region_id": region}, headers=headers)
        body = httpx.get(base + "/api/v1/status/compact").content

        www = workdir / "nginx" / "www"
        www.mkdir(parents=True)
        (www / "status.json").write_bytes(body)
        nginx_port = free_port()
        conf = workdir / "nginx" / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=workdir / "nginx", port=nginx_port))
        nginx = subprocess.Popen(["taskset", "-c", "0", "nginx", "-c", str(conf)])
        wait_up(f"http://127.0.0.1:{nginx_port}/status.json")
        nginx_pids = [nginx.pid] + [
            int(p)
            for p in subprocess.run(
                ["pgrep", "-P", str(nginx.pid)], capture_output=True, text=True
            ).stdout.split()
        ]

        out = workdir / "poll.jsonl"
        rows = [
            poll(
                f"http://127.0.0.1:{nginx_port}/status.json",
                "nginx-static",
                nginx_pids,
                args.duration,
                out,
            ),
            poll(base + "/api/v1/status/compact", "tryvoha-compact", [hub.pid], args.duration, out),
        ]
        samples = declare_to_visible(base, token, oblasts[8:], args.cycles)
    finally:
        for proc in (nginx, hub):
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=10)

    nginx_row, hub_row = rows
    print(
        f"\nBody: {len(body)} bytes, same bytes from both servers; server on CPU 0, wrk on CPU 1."
    )
    print("| server | 200 req/s | 304 req/s | p99 304 (ms) |")
    print("|---|---|---|---|")
    for row in rows:
        r200, r304 = row["200"]["median_run"], row["304"]["median_run"]
        print(
            f"| {row['label']} | {r200['requests_per_s']:,.0f} | {r304['requests_per_s']:,.0f} "
            f"| {r304['lat_p99_ms']} |"
        )
    share = (
        hub_row["304"]["median_run"]["requests_per_s"]
        / nginx_row["304"]["median_run"]["requests_per_s"]
    )
    print(f"\ntryvoha 304 rate = {share:.0%} of nginx's (target ≥ 25%)")
    samples.sort()
    p50 = statistics.median(samples)
    p99 = samples[int(len(samples) * 0.99) - 1]
    print(
        f"declare → visible in /api/v1/status/compact over {len(samples)} cycles on SQLite: "
        f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {samples[-1]:.2f} ms (target p99 ≤ 10 ms)"
    )


if __name__ == "__main__":
    main()
