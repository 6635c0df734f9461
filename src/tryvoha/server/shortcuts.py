"""The edge's registry: which requests are answered at the parser, by which rules, within which
limits. The app fills it in (`tryvoha.api.app.create_app`); the protocol only reads it.

Two kinds of short cut, both looked up by path once a request's head is parsed:

- a *polled* short cut returns the complete answer to a GET or HEAD from what it has at hand
  (pre-rendered bytes, a cached key), or None to send the request the ordinary way through the
  ASGI app, which gives the same bytes and every refusal;
- a *stream* short cut takes the connection itself (SSE, WebSocket) for the broadcaster.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from tryvoha.server.answers import Answer
from tryvoha.server.conditional import Validators
from tryvoha.server.limits import Limits


@dataclass(slots=True)
class Head:
    """A parsed request head, as short cuts see it."""

    method: str
    path: str
    """Undecoded path, as sent (latin-1)."""
    query: bytes
    headers: dict[bytes, bytes]
    """Lower-cased names; the last value of a repeated header."""
    client: str
    """The peer's IP address ("?" when unknown)."""

    @property
    def conditions(self) -> tuple[bytes | None, bytes | None, bool]:
        """What a conditional answer needs of the request: If-None-Match, If-Modified-Since,
        and whether only the head is wanted."""
        inm, ims = self.headers.get(b"if-none-match"), self.headers.get(b"if-modified-since")
        return inm, ims, self.method == "HEAD"


Polled = Callable[[Head], Answer | None]
Stream = Callable[[Head, asyncio.Transport], None]


class Edge:
    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._polled: dict[str, Polled] = {}
        self._polled_under: list[tuple[str, Polled]] = []
        self._streams: dict[str, Stream] = {}
        self._validators: Validators | None = None
        self._validators_under: list[tuple[str, Validators]] = []

    # Registering -------------------------------------------------------------------------------

    def poll(self, path: str, answer: Polled) -> None:
        """Answer GET and HEAD of exactly `path` with `answer` when it gives one."""
        self._polled[path] = answer

    def poll_under(self, prefix: str, answer: Polled) -> None:
        """Offer every GET and HEAD under `prefix` to `answer` (after exact paths)."""
        self._polled_under.append((prefix, answer))

    def stream(self, path: str, take: Stream) -> None:
        """Hand every request for `path` (any method: `take` answers refusals) to `take`."""
        self._streams[path] = take

    def validate(self, validators: Validators, under: str | None = None) -> None:
        """The `Last-Modified` policy of every GET answer (or of those under a prefix)."""
        if under is None:
            self._validators = validators
        else:
            self._validators_under.append((under, validators))

    # Looking up --------------------------------------------------------------------------------

    def polled(self, path: str) -> Polled | None:
        found = self._polled.get(path)
        if found is not None:
            return found
        for prefix, answer in self._polled_under:
            if path.startswith(prefix):
                return answer
        return None

    def streamed(self, path: str) -> Stream | None:
        return self._streams.get(path)

    def validators_for(self, path: str) -> Validators | None:
        for prefix, validators in self._validators_under:
            if path.startswith(prefix):
                return validators
        return self._validators
