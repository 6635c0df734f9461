"""Which clients get a kept body gzipped (tryvoha.server.encodings, RFC 9110 section 12.5.3),
and the gzipped form a kept body gives them (tryvoha.server.bodies)."""

from __future__ import annotations

import gzip

import pytest

from tryvoha.server.bodies import Rendered
from tryvoha.server.conditional import etag_of
from tryvoha.server.encodings import GZIP_FROM, accepts_gzip


@pytest.mark.parametrize(
    ("header", "takes"),
    [
        (None, False),
        (b"", False),
        (b"gzip", True),
        (b"GZip", True),
        (b"gzip, deflate, br", True),
        (b"br;q=1.0, gzip;q=0.5", True),
        (b"x-gzip", True),
        (b"gzip;q=0", False),
        (b"gzip; q=0.000", False),
        (b"identity", False),
        (b"br", False),
        (b"*", True),
        (b"*;q=0", False),
        (b"gzip;q=0, *", False),  # gzip named, refused: * does not bring it back
        (b"gzip;q=nonsense", False),
        (b"gzip;q=nan", False),
        (b"deflate;q=0.5, *;q=0.1", True),
        (b",,;;=,gzip", True),
    ],
)
def test_who_takes_gzip(header: bytes | None, takes: bool) -> None:
    assert accepts_gzip(header) is takes


def rendered(body: bytes) -> Rendered:
    return Rendered(body, etag_of(body), b"%d" % len(body))


def test_a_large_body_is_gzipped_once_with_an_etag_of_its_own() -> None:
    body = b'{"regions":[' + b'{"status":"none"},' * 2000 + b"{}]}"
    kept = rendered(body)
    packed = kept.negotiated(b"gzip")
    assert gzip.decompress(packed.body) == body and len(packed.body) < len(body) // 10
    assert packed.etag == etag_of(packed.body) != kept.etag
    assert packed.length == b"%d" % len(packed.body)
    assert dict(packed.headers) == {b"content-encoding": b"gzip", b"vary": b"accept-encoding"}
    assert kept.negotiated(b"gzip, br") is packed  # compressed once
    plain = kept.negotiated(None)
    assert (plain.body, plain.etag) == (body, kept.etag)
    assert dict(plain.headers) == {b"vary": b"accept-encoding"}


def test_a_small_body_is_always_sent_as_it_is() -> None:
    small = rendered(b"x" * (GZIP_FROM - 1))
    assert small.negotiated(b"gzip") is small and small.headers == ()
