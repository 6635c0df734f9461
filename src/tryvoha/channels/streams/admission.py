"""From an HTTP request to an accepted stream, or a JSON 4xx naming the problem.

Shared by the edge's stream short cut (`stream_short_cut`: the connection is taken over straight
from the HTTP parser) and the portable ASGI routes, so both answer the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from tryvoha.channels.streams import frames
from tryvoha.channels.streams.spec import SpecError, StreamSpec, parse_spec
from tryvoha.regions import Catalogue
from tryvoha.server import Head
from tryvoha.server.shortcuts import Stream

SSE_PATH = "/api/v1/stream"
WS_PATH = "/api/v1/ws"
CHALLENGE = ((b"www-authenticate", b'Bearer realm="tryvoha"'),)


@dataclass(frozen=True, slots=True)
class Admitted:
    spec: StreamSpec
    ws: bool
    head: bytes
    """The HTTP answer that opens the stream (200 event-stream head or 101 upgrade)."""


@dataclass(frozen=True, slots=True)
class Refused:
    answer: bytes


def admit(
    path: str,
    method: str,
    query: str,
    headers: dict[bytes, bytes],
    catalogue: Catalogue,
    read_allowed: Callable[[dict[bytes, bytes]], bool],
) -> Admitted | Refused:
    ws = path == WS_PATH
    if method != "GET":
        return Refused(frames.http_error(405, "method_not_allowed", f"{path} answers GET only"))
    if not read_allowed(headers):
        message = "this hub requires a token for reads"
        return Refused(frames.http_error(401, "token_required", message, CHALLENGE))
    last_id = headers.get(b"last-event-id")
    try:
        spec = parse_spec(query, catalogue, None if last_id is None else last_id.decode("latin-1"))
    except SpecError as exc:
        return Refused(frames.http_error(400, exc.code, exc.message))
    if not ws:
        return Admitted(spec, False, frames.SSE_HEAD)
    key = headers.get(b"sec-websocket-key")
    upgrade = headers.get(b"upgrade", b"").lower()
    if upgrade != b"websocket" or not key:
        message = f"{WS_PATH} is a WebSocket endpoint: send an Upgrade: websocket request"
        return Refused(frames.http_error(400, "websocket_required", message))
    if headers.get(b"sec-websocket-version", b"13") != b"13":
        return Refused(frames.http_error(400, "websocket_version", "WebSocket version 13 only"))
    return Admitted(spec, True, frames.ws_upgrade_head(key.decode("latin-1").strip()))


def stream_short_cut(
    catalogue: Catalogue,
    read_allowed: Callable[[dict[bytes, bytes]], bool],
    take: Callable[[asyncio.Transport, Admitted], None],
) -> Stream:
    """The edge's short cut for both stream paths: admit, then hand the connection to `take`
    (the broadcaster, which serves it or passes it to the process that will); a refusal is
    answered and closed."""

    def short_cut(head: Head, transport: asyncio.Transport) -> None:
        query = head.query.decode("latin-1")
        outcome = admit(head.path, head.method, query, head.headers, catalogue, read_allowed)
        if not isinstance(outcome, Admitted):
            transport.write(outcome.answer)
            transport.close()
            return
        take(transport, outcome)

    return short_cut
