"""What one HTTP connection may cost the hub: head size, header count, URL length and deadlines.

Every limit has a range (`RANGES`, with the `TRYVOHA_HTTP_*` variable that sets it; read by
`tryvoha.config`); a value outside it stops the hub at start with a message naming the variable,
instead of serving with a limit nobody meant. See docs/http.md.
"""

from __future__ import annotations

from dataclasses import dataclass

RANGES: dict[str, tuple[str, float, float]] = {
    "max_head_bytes": ("TRYVOHA_HTTP_MAX_HEAD_BYTES", 1024, 65536),
    "max_headers": ("TRYVOHA_HTTP_MAX_HEADERS", 10, 1000),
    "max_url_bytes": ("TRYVOHA_HTTP_MAX_URL_BYTES", 256, 65536),
    "head_timeout": ("TRYVOHA_HTTP_HEAD_TIMEOUT", 0.5, 60),
    "body_timeout": ("TRYVOHA_HTTP_BODY_TIMEOUT", 0.5, 300),
    "keepalive_timeout": ("TRYVOHA_HTTP_KEEPALIVE_TIMEOUT", 0.5, 300),
}


@dataclass(frozen=True, slots=True)
class Limits:
    max_head_bytes: int = 16 * 1024
    """Request line and headers together; over it: 431 and the connection is closed."""
    max_headers: int = 100
    """Header fields in one request; over it: 431."""
    max_url_bytes: int = 8 * 1024
    """The request target (path and query); over it: 414. At most `max_head_bytes`."""
    head_timeout: float = 8.0
    """Seconds from a connection's opening (later requests: their first byte) to the end of the
    head; over it: 408 and close. A half-sent or byte-a-second head holds a connection no longer."""
    body_timeout: float = 8.0
    """Seconds from the end of the head to the end of the body (request bodies are at most
    16 KiB); over it: 408 and close."""
    keepalive_timeout: float = 5.0
    """Seconds an idle keep-alive connection is kept between requests."""

    def __post_init__(self) -> None:
        for name, (variable, low, high) in RANGES.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"{variable} must be between {low:g} and {high:g}, got {value:g}")
        if self.max_url_bytes > self.max_head_bytes:
            raise ValueError(
                "TRYVOHA_HTTP_MAX_URL_BYTES must not exceed TRYVOHA_HTTP_MAX_HEAD_BYTES"
            )
