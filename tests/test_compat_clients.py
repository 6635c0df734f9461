"""The real PyPI clients of both APIs against a live hub (uvicorn on a free port, in a thread).

Each client runs in its own venv in a cache outside the checkout, `~/.cache/tryvoha-tests/`
(`$XDG_CACHE_HOME`, or `TRYVOHA_COMPAT_VENVS`; made once with `python -m venv` + pip and
reused): `alerts-in-ua` 0.4.0 shares its import name with `alerts-in-ua.py`, so they cannot
share one. The scripts in `tests/compat_clients/` make every call of section E of the compatibility
spec, declare alerts on the hub in between and check what the client returns against tryvoha's
own API.

The harness wraps the app in a small test-only layer that records each request (so scripts can
check the headers a client sent) and answers 403 / 500 for the keys `fault-403` / `fault-500`:
the hub never produces those by itself, and the clients' mapping of them is part of section E.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from tryvoha.api.app import create_app
from tryvoha.channels.webhooks import WebhookConfig
from tryvoha.compat.ids import crosswalk
from tryvoha.config import Settings
from tryvoha.hub import Hub
from tryvoha.netguard import parse_networks
from tryvoha.regions import Catalogue, Level
from tryvoha.store import SqlStore, TokenRole

SCRIPTS = Path(__file__).resolve().parent / "compat_clients"
VENVS = {
    "alerts-in-ua-0.4.0": ["alerts-in-ua==0.4.0", "ukrainealarm==0.0.1", "uasiren==0.0.1"],
    "alerts-in-ua-py-1.4.4": ["alerts-in-ua-py==1.4.4"],
}
pytestmark = pytest.mark.slow


def venv_cache() -> Path:
    """Where the clients' venvs live: a per-user cache, never the checkout (they are 130 MB)."""
    if chosen := os.environ.get("TRYVOHA_COMPAT_VENVS"):
        return Path(chosen)
    cache = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(cache) if os.path.isabs(cache) else Path.home() / ".cache"
    return base / "tryvoha-tests" / "compat-venvs"


def client_venv(name: str) -> Path:
    """The venv's python, made on first use and reused while its pinned packages are unchanged."""
    where = venv_cache() / name
    python = where / "bin" / "python"
    marker = where / ".installed"
    wanted = "\n".join(VENVS[name])
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--clear", str(where)], check=True)
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *VENVS[name]],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        message = f"could not install {VENVS[name]} from PyPI:\n{done.stderr[-2000:]}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    marker.write_text(wanted)
    return python


class Harness:
    """Test-only ASGI layer: request log and forced 403/500 answers (see module docstring)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.log: list[dict[str, Any]] = []

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode(): v.decode("latin-1") for k, v in scope["headers"]}
        if scope["path"] == "/__harness/log":
            body = json.dumps(self.log).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        auth = headers.get("authorization", "")
        fault = auth.removeprefix("Bearer ")
        if fault in ("fault-403", "fault-500"):
            status = int(fault[-3:])
            body = json.dumps({"message": f"forced {status}"}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        entry = {
            "path": scope["path"],
            "authorization": headers.get("authorization"),
            "if_modified_since": headers.get("if-modified-since"),
            "status": None,
        }
        self.log.append(entry)

        async def record(message: dict) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
            await send(message)

        await self.app(scope, receive, record)


class LiveHub:
    def __init__(self, hub: Hub, app: Any, port: int) -> None:
        self.hub, self.app, self.port = hub, app, port
        self.base = f"http://127.0.0.1:{port}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def live(catalogue: Catalogue, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHub]:
    db = f"sqlite:///{tmp_path_factory.mktemp('live') / 'hub.db'}"
    hub = Hub(catalogue, SqlStore(db))
    hub.load()
    # The webhook test's receiver listens on loopback: allowed as a deployment would allow it.
    loopback = WebhookConfig(allow_networks=parse_networks("127.0.0.0/8"))
    app = create_app(hub, Settings(db=db, load_history=False, webhooks=loopback))
    config = app.state.compat.config
    config.aiu_per_minute, config.aiu_history_per_minute, config.ua_per_minute = 60, 20, 60
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(Harness(app), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    yield LiveHub(hub, app, port)
    server.should_exit = True
    thread.join(10)
    hub.close()


def run_client(live: LiveHub, venv: str, script: str, *args: str, **env: str) -> str:
    python = client_venv(venv)
    cw = crosswalk(live.hub.catalogue)
    ids = {str(uid): region.id for uid, region in cw.by_uid.items()}
    admin, _ = live.hub.store.create_token(f"admin-{script}-{'-'.join(args)}", None)
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(SCRIPTS),
        "PYTHONDONTWRITEBYTECODE": "1",
        "HUB_BASE": live.base,
        "HUB_ADMIN": admin,
        "HUB_IDS": json.dumps(ids),
        **env,
    }
    done = subprocess.run(
        [str(python), str(SCRIPTS / script), *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"{script} {args}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def reader(live: LiveHub, name: str) -> str:
    plain, _ = live.hub.store.create_token(name, None, role=TokenRole.READ_ONLY)
    return plain


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_alerts_in_ua_official_client(live: LiveHub, mode: str) -> None:
    out = run_client(
        live,
        "alerts-in-ua-0.4.0",
        "alerts_in_ua_040.py",
        mode,
        AIU_TOKEN=reader(live, f"aiu-{mode}"),
        AIU_LIMITED_TOKEN=reader(live, f"aiu-limited-{mode}"),
    )
    assert f"alerts-in-ua 0.4.0 {mode}: ok" in out


def test_alerts_in_ua_py_client(live: LiveHub) -> None:
    out = run_client(
        live, "alerts-in-ua-py-1.4.4", "alerts_in_ua_py_144.py", AIU_TOKEN=reader(live, "aiu-py")
    )
    assert "AlertsClient: ok" in out and "AsyncAlertsClient: ok" in out


def test_ukrainealarm_and_uasiren_clients(live: LiveHub) -> None:
    catalogue = live.hub.catalogue
    cw = crosswalk(catalogue)
    district = next(
        r
        for r in catalogue.children(cw.by_uid[16].id)
        if r.id in cw.ua_id_of and r.level is Level.RAION
    )
    out = run_client(
        live,
        "alerts-in-ua-0.4.0",
        "ukrainealarm_clients.py",
        UA_KEY=reader(live, "ua-key"),
        UA_LIMITED_KEY=reader(live, "ua-limited"),
        UA_DISTRICT_IN_16=cw.ua_id_of[district.id],
    )
    assert "ukrainealarm 0.0.1: ok" in out and "uasiren 0.0.1: ok" in out


def raw_get(
    live: LiveHub, path: str, version: str, headers: dict[str, str]
) -> tuple[int, bytes, dict]:
    """A bare device request: no Accept, `Connection: close`, HTTP/1.0 or 1.1."""
    lines = [f"GET {path} HTTP/{version}", f"Host: 127.0.0.1:{live.port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    with socket.create_connection(("127.0.0.1", live.port), timeout=10) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    fields = dict(
        line.decode("latin-1").lower().split(": ", 1)
        for line in head.split(b"\r\n")[1:]
        if b": " in line
    )
    return status, body, fields


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_raw_device_requests(live: LiveHub, version: str) -> None:
    token = reader(live, f"device-{version}")
    path = "/v1/iot/active_air_raid_alerts_by_oblast.json"
    status, body, fields = raw_get(live, f"{path}?token={token}", version, {})
    assert status == 200 and len(body) == 29 and body[:1] == b'"' == body[-1:]
    assert fields["content-type"] == "application/json" and "last-modified" in fields
    status, body2, _ = raw_get(live, path, version, {"Authorization": f"Bearer {token}"})
    assert status == 200 and body2 == body
    status, body, _ = raw_get(live, "/api/v3/alerts/31", version, {"Authorization": token})
    assert status == 200 and len(json.loads(body)) == 1


def test_webhook_subscription_delivers_the_next_change(live: LiveHub) -> None:
    received: list[bytes] = []
    arrived = threading.Event()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.end_headers()
            arrived.set()

        def log_message(self, *args: Any) -> None:
            pass

    receiver = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    key = reader(live, "webhook-key")
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=10)
    conn.request(
        "POST",
        "/api/v3/webhook",
        json.dumps({"webHookUrl": url}),
        {"Authorization": key, "Content-Type": "application/json"},
    )
    assert conn.getresponse().status == 200
    conn.close()
    admin, _ = live.hub.store.create_token("webhook-admin", None)
    region = crosswalk(live.hub.catalogue).by_uid[14]
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=10)
    conn.request(
        "POST",
        "/api/v1/alerts",
        json.dumps({"region_id": region.id, "threat": "air_raid"}),
        {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"},
    )
    response = conn.getresponse()
    alert = json.loads(response.read())["alert"]
    assert response.status == 201
    assert arrived.wait(10), "the subscribed URL got nothing"
    payload = json.loads(received[0])
    assert (
        payload["status"] == "Activate"
        and payload["regionId"] == "14"
        and payload["alarmType"] == "AIR"
    )
    conn.request(
        "POST",
        f"/api/v1/alerts/{alert['id']}/end",
        "{}",
        {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"},
    )
    assert conn.getresponse().status == 200
    conn.close()
    receiver.shutdown()
