"""channels/webhooks/sender.py: a failed delivery in a few fixed words, never the peer's text."""

from __future__ import annotations

import errno
import ssl
from itertools import pairwise

import httpx
import pytest

from tryvoha.channels.webhooks.sender import reason
from tryvoha.netguard import Forbidden


def caused_by(exc: httpx.HTTPError, *causes: BaseException) -> httpx.HTTPError:
    """`exc` raised from the first of `causes`, itself raised from the next, and so on."""
    links: list[BaseException] = [exc, *causes]
    for outer, inner in pairwise(links):
        outer.__cause__ = inner
    return exc


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (caused_by(httpx.ConnectError("x"), ConnectionRefusedError()), "connection refused"),
        (
            caused_by(httpx.ConnectError("x"), OSError(errno.ECONNREFUSED, "refused")),
            "connection refused",
        ),
        (
            caused_by(httpx.ConnectError("x"), OSError(errno.EHOSTUNREACH, "no route")),
            "host unreachable",
        ),
        (
            caused_by(httpx.ConnectError("x"), OSError(errno.ENETUNREACH, "no network")),
            "host unreachable",
        ),
        (
            caused_by(httpx.ConnectError("x"), ssl.SSLCertVerificationError("self-signed")),
            "TLS certificate not trusted",
        ),
        (caused_by(httpx.ConnectError("x"), ssl.SSLError("alert 40")), "TLS handshake failed"),
        (httpx.ConnectTimeout("x"), "timeout while connecting"),
        (httpx.ReadTimeout("x"), "timeout"),
        (httpx.ConnectError("x"), "cannot connect"),
        (httpx.RemoteProtocolError("x"), "the answer is not valid HTTP"),
        (httpx.ReadError("x"), "connection lost"),
        (httpx.WriteError("x"), "connection lost"),
        (httpx.UnsupportedProtocol("x"), "network error (UnsupportedProtocol)"),
    ],
)
def test_each_failure_has_its_fixed_words(exc: httpx.HTTPError, words: str) -> None:
    assert reason(exc) == words


def test_the_hubs_own_refusal_is_given_in_its_words_whatever_else_is_in_the_chain() -> None:
    refused = Forbidden("10.0.0.5 is a private address; not allowed")
    exc = caused_by(httpx.ConnectError("x"), OSError(errno.ECONNREFUSED, "refused"))
    exc.__context__ = refused
    assert reason(exc) == "10.0.0.5 is a private address; not allowed"


def test_what_the_receiver_or_a_library_said_is_never_passed_on() -> None:
    peer = "HTTP/1.1 999 <script>alert(1)</script> secret=whsec_abc"
    for exc in (
        httpx.RemoteProtocolError(peer),
        caused_by(httpx.ConnectError(peer), ssl.SSLError(peer)),
        httpx.ReadError(peer),
    ):
        assert "secret" not in reason(exc) and "<script>" not in reason(exc)


def test_an_exception_group_is_searched_too() -> None:
    exc = httpx.ConnectError("x")
    exc.__cause__ = ExceptionGroup("happy eyeballs", [OSError(errno.ECONNREFUSED, "refused")])
    assert reason(exc) == "connection refused"
