"""One HTTP delivery attempt, with a whole-request deadline and a cap on what is read back: a
slow or chatty receiver costs at most `timeout` seconds and `max_response_bytes` of memory.

What an attempt reports (stored as `last_error`, shown by the API and the CLI, logged) is a status
and a short reason in the hub's own words: never a byte of the receiver's answer, whose body and
headers could otherwise carry what an internal service said back to whoever subscribed.
"""

from __future__ import annotations

import asyncio
import errno
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus

import httpcore
import httpx

from tryvoha import __version__
from tryvoha.channels.webhooks.config import WebhookConfig
from tryvoha.netguard import DestinationError, GuardedBackend

USER_AGENT = f"tryvoha-webhooks/{__version__}"


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    status: int | None
    error: str | None
    kind: str
    """success, http_error, timeout or network: the label of the attempts counter."""


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport on a connection pool whose every connection goes through the address
    policy (httpx offers no public way to hand its pool a network backend)."""

    def __init__(self, config: WebhookConfig, limits: httpx.Limits) -> None:
        # The parent's __init__ only builds `_pool` (and an SSL context); this builds it instead.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(config.policy),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """The receiver's reason phrase is replaced by the standard one before httpx logs the
        status line: nothing the receiver wrote reaches the hub's logs."""
        response = await super().handle_async_request(request)
        try:
            phrase = HTTPStatus(response.status_code).phrase
        except ValueError:
            phrase = ""
        response.extensions["reason_phrase"] = phrase.encode()
        return response


def new_client(config: WebhookConfig) -> httpx.AsyncClient:
    """Redirects are not followed (the receiver said where it is when subscribing) and proxy
    variables are ignored, so a delivery goes exactly where the subscription says, and only to
    an address the policy allows."""
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    return httpx.AsyncClient(
        transport=GuardedTransport(config, limits),
        timeout=httpx.Timeout(config.timeout),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": USER_AGENT},
    )


async def post(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: dict[str, str],
    config: WebhookConfig,
) -> Outcome:
    try:
        async with asyncio.timeout(config.timeout):
            async with client.stream("POST", url, content=body, headers=headers) as response:
                await _drain(response, config.max_response_bytes)
    except TimeoutError:
        return Outcome(False, None, f"timeout after {config.timeout:g} s", "timeout")
    except httpx.HTTPError as exc:
        kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "network"
        return Outcome(False, None, reason(exc), kind)
    status = response.status_code
    if 200 <= status < 300:
        return Outcome(True, status, None, "success")
    if 300 <= status < 400:
        return Outcome(False, status, f"HTTP {status}: redirects are not followed", "http_error")
    return Outcome(False, status, f"HTTP {status}", "http_error")


async def _drain(response: httpx.Response, limit: int) -> None:
    """Read the answer up to `limit` (so the connection can be reused) and keep none of it."""
    received = 0
    async for chunk in response.aiter_raw():
        received += len(chunk)
        if received > limit:
            break


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)


def reason(exc: httpx.HTTPError) -> str:
    """A failed connection or exchange in a few fixed words (error texts of the TLS and HTTP
    libraries can quote what the receiver sent, so none is passed on)."""
    causes = list(_causes(exc))
    for cause in causes:
        if isinstance(cause, DestinationError):
            return str(cause)
    for cause in causes:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return "TLS certificate not trusted"
        if isinstance(cause, ssl.SSLError):
            return "TLS handshake failed"
        if isinstance(cause, ConnectionRefusedError) or (
            isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED
        ):
            return "connection refused"
    for cause in causes:
        if isinstance(cause, OSError) and cause.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return "host unreachable"
    if isinstance(exc, httpx.ConnectTimeout):
        return "timeout while connecting"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the answer is not valid HTTP"
    if isinstance(exc, (httpx.ReadError, httpx.WriteError)):
        return "connection lost"
    return f"network error ({type(exc).__name__})"
