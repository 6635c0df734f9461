"""Content negotiation for kept bodies: whether a client takes gzip (RFC 9110, section 12.5.3).

The whole country's status is a quarter of a megabyte of JSON and a sixth of that gzipped; a
phone polling it at night on a poor mobile network should not fetch the larger one.
"""

from __future__ import annotations

GZIP_FROM = 1024
"""Bodies from this many bytes on are offered gzipped; smaller ones gain nothing by it."""


def accepts_gzip(accept_encoding: bytes | None) -> bool:
    """True when `Accept-Encoding` lists gzip (or `*` without gzip) with a q-value above 0."""
    if not accept_encoding:
        return False
    anything: bool | None = None
    for item in accept_encoding.split(b","):
        coding, _, parameters = item.partition(b";")
        coding = coding.strip().lower()
        weight = 1.0
        for parameter in parameters.split(b";"):
            name, _, value = parameter.partition(b"=")
            if name.strip().lower() == b"q":
                try:
                    weight = float(value.strip()[:8])
                except ValueError:
                    weight = 0.0
        if coding in (b"gzip", b"x-gzip"):
            return weight > 0
        if coding == b"*":
            anything = weight > 0
    return bool(anything)
