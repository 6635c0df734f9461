"""One HTTP delivery attempt, with a whole-request deadline and a cap on what is read back: a
slow or chatty receiver costs at most `timeout` seconds and `max_response_bytes` of memory."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

from tryvoha import __version__
from tryvoha.channels.webhooks.config import WebhookConfig

USER_AGENT = f"tryvoha-webhooks/{__version__}"
ERROR_TEXT = 300


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    status: int | None
    error: str | None
    kind: str
    """success, http_error, timeout or network: the label of the attempts counter."""


def new_client(config: WebhookConfig) -> httpx.AsyncClient:
    """Redirects are not followed (the receiver said where it is when subscribing) and proxy
    variables are ignored, so a delivery goes exactly where the subscription says."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(config.timeout),
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
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
                answer = await _read_capped(response, config.max_response_bytes)
    except TimeoutError:
        return Outcome(False, None, f"no complete answer within {config.timeout:g} s", "timeout")
    except httpx.HTTPError as exc:
        detail = str(exc) or type(exc).__name__
        return Outcome(False, None, f"{type(exc).__name__}: {detail}"[:ERROR_TEXT], "network")
    status = response.status_code
    if 200 <= status < 300:
        return Outcome(True, status, None, "success")
    text = answer.decode("utf-8", "replace").strip()
    if 300 <= status < 400:
        where = response.headers.get("location", "?")
        message = f"HTTP {status}: redirects are not followed (Location: {where})"
    else:
        message = f"HTTP {status}" + (f": {text}" if text else "")
    return Outcome(False, status, message[:ERROR_TEXT], "http_error")


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    """Keep the first bytes of the answer (for the error message), stop reading past `limit`."""
    kept = bytearray()
    received = 0
    async for chunk in response.aiter_raw():
        received += len(chunk)
        if len(kept) < ERROR_TEXT:
            kept += chunk[: ERROR_TEXT - len(kept)]
        if received > limit:
            break
    return bytes(kept)
