"""A small webhook receiver: verifies signatures and keeps what arrived. For trying a hub out
(`tryvoha webhook listen`), for tests and for the delivery benchmark; not for production use."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tryvoha.channels.webhooks.signing import SIGNATURE_HEADER, verify

MAX_BODY = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Received:
    path: str
    headers: dict[str, str]
    """Lower-case names."""
    body: bytes
    at: float
    """time.time() when the body was complete."""
    verified: bool | None
    """None when the receiver has no secret to check with."""
    status: int
    """What the receiver answered."""

    @property
    def event_id(self) -> int:
        return int(self.headers["x-tryvoha-event-id"])


Answer = Callable[[Received], int]


@dataclass
class Receiver:
    secret: str | None = None
    answer: Answer = field(default=lambda _r: 200)
    """Decides the status code of each answer (e.g. 503 to play a receiver that is down)."""
    reply_body: bytes = b"ok"
    received: list[Received] = field(default_factory=list)
    url: str = ""
    _server: asyncio.Server | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _connections: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self, host: str = "127.0.0.1", port: int = 0, path: str = "/hook") -> str:
        self._server = await asyncio.start_server(self._serve, host, port)
        bound = self._server.sockets[0].getsockname()[1]
        self.url = f"http://{host}:{bound}{path}"
        return self.url

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._connections):  # a stopped receiver keeps no connection
                writer.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1):
                    await self._server.wait_closed()

    def acknowledged(self) -> list[Received]:
        return [r for r in self.received if 200 <= r.status < 300]

    async def wait_for(
        self, predicate: Callable[[Receiver], bool], timeout: float | None = 10
    ) -> None:
        async with asyncio.timeout(timeout):
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *lines = head.decode("latin-1").split("\r\n")
                headers = {}
                for line in lines:
                    if ":" in line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                if length > MAX_BODY:
                    writer.write(b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\n\r\n")
                    await writer.drain()
                    return
                body = await reader.readexactly(length)
                verified = None
                if self.secret is not None:
                    signature = headers.get(SIGNATURE_HEADER.lower(), "")
                    verified = verify(self.secret, signature, body)
                partial = Received(
                    request_line.split(" ")[1], headers, body, time.time(), verified, 0
                )
                status = 401 if verified is False else self.answer(partial)
                self.received.append(
                    Received(partial.path, headers, body, partial.at, verified, status)
                )
                self._changed.set()
                reply = self.reply_body
                writer.write(
                    f"HTTP/1.1 {status} X\r\ncontent-type: text/plain\r\n"
                    f"content-length: {len(reply)}\r\n\r\n".encode()
                    + reply
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self._connections.discard(writer)
            writer.close()
