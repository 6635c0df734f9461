"""channels/webhooks/signing.py: `X-Tryvoha-Signature: t=<unix s>,v1=<hex>` over `t.body`.

The reference HMAC is the `cryptography` library's, not the module's own `hmac` call.
"""

from __future__ import annotations

import re

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.hmac import HMAC
from hypothesis import given
from hypothesis import strategies as st

from tryvoha.channels.webhooks.signing import (
    SECRET_PREFIX,
    new_secret,
    signature,
    signature_header,
    verify,
)

SECRET = "whsec_test-secret"
BODY = b'{"event":{"id":7},"alert":{"id":7}}'
T = 1_767_225_600  # 2026-01-01T00:00:00Z


def reference(secret: str, timestamp: int, body: bytes) -> str:
    mac = HMAC(secret.encode(), hashes.SHA256())
    mac.update(f"{timestamp}.".encode() + body)
    return mac.finalize().hex()


@given(secret=st.text(min_size=1, max_size=60), timestamp=st.integers(0, 2**40), body=st.binary())
def test_signature_is_hmac_sha256_of_timestamp_dot_body(secret, timestamp, body) -> None:
    assert signature(secret, timestamp, body) == reference(secret, timestamp, body)
    header = signature_header(secret, body, timestamp)
    assert header == f"t={timestamp},v1={reference(secret, timestamp, body)}"
    assert verify(secret, header, body, now=timestamp)


def test_the_header_carries_the_current_time_by_default() -> None:
    import time

    before = int(time.time())
    header = signature_header(SECRET, BODY)
    t = int(re.fullmatch(r"t=(\d+),v1=[0-9a-f]{64}", header).group(1))
    assert before <= t <= int(time.time())
    assert verify(SECRET, header, BODY)


@pytest.mark.parametrize(
    ("now", "accepted"),
    [(T, True), (T + 300, True), (T - 300, True), (T + 301, False), (T - 301, False)],
)
def test_a_captured_request_is_refused_once_stale(now: int, accepted: bool) -> None:
    assert verify(SECRET, signature_header(SECRET, BODY, T), BODY, now=now) is accepted


def test_the_tolerance_is_the_receiver_s() -> None:
    header = signature_header(SECRET, BODY, T)
    assert not verify(SECRET, header, BODY, now=T + 60, tolerance=30)
    assert verify(SECRET, header, BODY, now=T + 3600, tolerance=3600)


def test_wrong_secret_or_altered_body_is_refused() -> None:
    header = signature_header(SECRET, BODY, T)
    assert not verify("whsec_other", header, BODY, now=T)
    assert not verify(SECRET, header, BODY + b" ", now=T)
    assert not verify(SECRET, header, BODY.replace(b"7", b"8"), now=T)


def test_any_v1_may_match_during_a_secret_rotation() -> None:
    old, new = signature(SECRET, T, BODY), signature("whsec_new", T, BODY)
    header = f"t={T},v1={old},v1={new}"
    assert verify(SECRET, header, BODY, now=T) and verify("whsec_new", header, BODY, now=T)
    assert verify(SECRET, f" t={T} , v0=legacy, v1={old} ", BODY, now=T)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        f"v1={signature(SECRET, T, BODY)}",  # no time
        f"t={T}",  # no signature
        f"t={T},t={T},v1={signature(SECRET, T, BODY)}",  # two times
        f"t=-{T},v1={signature(SECRET, T, BODY)}",
        f"t={T}.0,v1={signature(SECRET, T, BODY)}",
        f"t=,v1={signature(SECRET, T, BODY)}",
        f"t={T},v1=",
        f"t={T},v1={signature(SECRET, T, BODY).upper()}",
    ],
)
def test_malformed_headers_are_refused(header: str) -> None:
    assert verify(SECRET, header, BODY, now=T) is False


@pytest.mark.parametrize(
    "stamp",
    [
        "9" * 5000,  # past int()'s 4300-digit limit
        "9" * 16,
        "1_767_225_600",  # int() reads underscores
        "١٧٦٧٢٢٥٦٠٠",  # and Arabic-Indic digits
        "１７６７２２５６００",  # and full-width ones
    ],
)
def test_a_timestamp_that_is_not_plain_unix_seconds_is_refused(stamp: str) -> None:
    header = f"t={stamp},v1={signature(SECRET, T, BODY)}"
    assert verify(SECRET, header, BODY, now=T) is False


def test_spaces_around_the_fields_are_tolerated() -> None:
    header = f" t= {T} , v1= {signature(SECRET, T, BODY)} "
    assert verify(SECRET, header, BODY, now=T) is True


@given(header=st.text(max_size=200))
def test_any_header_gets_an_answer(header: str) -> None:
    assert verify(SECRET, header, BODY, now=T) in (True, False)


def test_new_secrets_are_prefixed_and_unguessable() -> None:
    secrets = {new_secret() for _ in range(100)}
    assert len(secrets) == 100
    for secret in secrets:
        assert secret.startswith(SECRET_PREFIX)
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", secret.removeprefix(SECRET_PREFIX))
