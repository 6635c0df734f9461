"""Real servers and real clients for the stream tests: uvicorn on a free port, raw SSE readers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import uvicorn

from tryvoha.alerts.commands import Actor, Declare, End
from tryvoha.alerts.model import Threat
from tryvoha.api.app import create_app
from tryvoha.config import Settings
from tryvoha.hub import Hub
from tryvoha.serve import uvicorn_config

from .waiting import until

ADMIN = Actor("test-operator")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.asynccontextmanager
async def serving(hub: Hub, settings: Settings, fast: bool = True) -> AsyncIterator[int]:
    """uvicorn in this event loop: the fast path (as `tryvoha serve`) or plain h11 + ASGI."""
    port = free_port()
    app = create_app(hub, settings)
    if fast:
        config = uvicorn_config(app, "127.0.0.1", port, lifespan="off")
    else:
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            http="h11",
            ws="websockets-sansio",
            lifespan="off",
        )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())

    def started() -> bool:
        if task.done():
            task.result()  # a server that could not start fails with its own error
        return server.started

    await until(started, "the server started", poll=0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        server.force_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 5)


@dataclass
class Message:
    kind: str
    id: int | None
    data: dict[str, Any]


@dataclass
class SSEClient:
    """A raw SSE reader: parses `event:`/`id:`/`data:` blocks and counts heartbeat comments."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    status: int
    headers: dict[str, str]
    body: bytes = b""
    heartbeats: int = 0
    buffer: list[Message] = field(default_factory=list)

    @classmethod
    async def open(
        cls, port: int, query: str = "", headers: dict[str, str] | None = None, rcvbuf: int = 0
    ) -> SSEClient:
        sock = socket.socket()
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        limit = 2**16 if rcvbuf else 2**22  # a slow reader must not read ahead into memory
        reader, writer = await asyncio.open_connection(sock=sock, limit=limit)
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        path = "/api/v1/stream" + (f"?{query}" if query else "")
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n{extra}\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
        client = cls(reader, writer, status, hdrs)
        if status != 200:
            length = int(hdrs.get("content-length", "0"))
            client.body = await reader.readexactly(length) if length else await reader.read()
        return client

    def json(self) -> dict[str, Any]:
        return orjson.loads(self.body)

    async def next(self, timeout: float = 5) -> Message:
        if self.buffer:
            return self.buffer.pop(0)
        return await asyncio.wait_for(self._read_one(), timeout)

    async def _read_one(self) -> Message:
        kind, event_id, data = "message", None, None
        while True:
            line = (await self.reader.readline()).decode()
            if not line:
                raise ConnectionError("stream closed")
            line = line.rstrip("\n")
            if line == "":
                if data is not None:
                    return Message(kind, event_id, orjson.loads(data))
                continue
            if line.startswith(":"):
                self.heartbeats += 1
            elif line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("id: "):
                event_id = int(line[4:])
            elif line.startswith("data: "):
                data = line[6:]

    async def alerts(self, count: int, timeout: float = 10) -> list[Message]:
        out = []
        while len(out) < count:
            message = await self.next(timeout)
            if message.kind == "alert":
                out.append(message)
        return out

    def close(self) -> None:
        self.writer.transport.abort()


async def declare(hub: Hub, region: str, **kw: Any):
    outcome = await hub.submit(
        Declare(region_id=region, threat=kw.pop("threat", Threat.AIR_RAID), **kw), ADMIN
    )
    return outcome.event


async def end(hub: Hub, alert_id: int):
    from tryvoha.alerts.commands import AlertRef

    return (await hub.submit(End(AlertRef(alert_id=alert_id)), ADMIN)).event


def spawn_serve(db_url: str, port: int, workers: int = 1) -> subprocess.Popen[bytes]:
    """`tryvoha serve` in a child process, as an operator would run it."""
    exe = Path(sys.executable).parent / "tryvoha"
    env = dict(os.environ, TRYVOHA_LOAD_HISTORY="false")
    proc = subprocess.Popen(
        [
            str(exe),
            "serve",
            "--db",
            db_url,
            "--port",
            str(port),
            "--no-history",
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "serve died")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("serve did not start")
