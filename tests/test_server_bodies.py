"""The per-log-id body table: one render per view and log id, never more views than its bound."""

from __future__ import annotations

from tryvoha.server.bodies import Bodies
from tryvoha.server.conditional import etag_of


def test_rendered_once_per_log_id() -> None:
    log_id = 0
    renders: list[int] = []

    def render() -> bytes:
        renders.append(log_id)
        return b'{"log_id":%d}' % log_id

    bodies = Bodies(lambda: log_id)
    first = bodies.get("status", render)
    assert bodies.get("status", render) is first and renders == [0]
    assert first.etag == etag_of(first.body) and first.length == b"%d" % len(first.body)
    log_id = 7
    moved = bodies.get("status", render)
    assert renders == [0, 7] and moved.body == b'{"log_id":7}' and moved.etag != first.etag


def test_bounded_least_recently_used_first_out() -> None:
    bodies = Bodies(lambda: 1, max_views=3)
    for key in ("a", "b", "c"):
        bodies.get(key, lambda k=key: k.encode())
    bodies.get("a", lambda: b"never")  # a hit makes "a" the most recent
    for n in range(100):
        bodies.get(("region", n), lambda n=n: b"%d" % n)
        assert len(bodies) <= 3
    renders: list[str] = []
    bodies.get(("region", 99), lambda: renders.append("99") or b"99")
    assert renders == [], "the most recent view is still held"
    bodies.get("a", lambda: renders.append("a") or b"a")
    assert renders == ["a"], "an old view was let go and is rendered again"
