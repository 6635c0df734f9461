"""Bodies of GET views, each rendered once per log id and kept in a bounded table.

A view's bytes change only when the log moves on, so a poll between two events costs a dict
lookup. Views are keyed by what they show (a canonical region id, never the spelling of a path),
and the table holds at most `max_views` of them, least recently used first out, so no sequence
of requests can grow it.
"""

from __future__ import annotations

import gzip
from collections import OrderedDict
from collections.abc import Callable, Hashable

from tryvoha.server.answers import JSON, Answer, Header
from tryvoha.server.conditional import Validators, conditional_answer, etag_of
from tryvoha.server.encodings import GZIP_FROM, accepts_gzip

VARY = (b"vary", b"accept-encoding")
GZIPPED = (b"content-encoding", b"gzip")


class Rendered:
    """A body with its validators; `negotiated` gives the form a client asked for."""

    __slots__ = ("_forms", "body", "etag", "headers", "length")

    def __init__(
        self, body: bytes, etag: bytes, length: bytes, headers: tuple[Header, ...] = ()
    ) -> None:
        self.body = body
        self.etag = etag
        self.length = length
        """`content-length` value, formatted once."""
        self.headers = headers
        """Content headers of this form (its encoding, what it varies with)."""
        self._forms: dict[bool, Rendered] = {}

    def negotiated(self, accept_encoding: bytes | None) -> Rendered:
        """This body for a client that sent `accept_encoding`: gzipped (compressed once, kept)
        when it takes gzip and the body is large enough to gain by it. Either form of a large
        body says it varies with `Accept-Encoding`, and each has an ETag of its own."""
        if len(self.body) < GZIP_FROM:
            return self
        gzipped = accepts_gzip(accept_encoding)
        form = self._forms.get(gzipped)
        if form is None:
            if gzipped:
                # The fastest level: it runs on the event loop once per log id, right when the
                # alert's other deliveries are going out (263 KB: 1.3 ms to 47 KB; level 6 takes
                # 3.3 ms for 40 KB).
                packed = gzip.compress(self.body, compresslevel=1, mtime=0)
                form = Rendered(packed, etag_of(packed), b"%d" % len(packed), (GZIPPED, VARY))
            else:
                form = Rendered(self.body, self.etag, self.length, (VARY,))
            self._forms[gzipped] = form
        return form

    def answer(
        self,
        validators: Validators,
        if_none_match: bytes | None,
        if_modified_since: bytes | None,
        head_only: bool = False,
        content_type: bytes = JSON,
    ) -> Answer:
        """200 with these bytes and validators, or 304, for a request with these conditions."""
        headers = [(b"content-type", content_type), (b"content-length", self.length)]
        return conditional_answer(
            [*headers, *self.headers],
            self.body,
            self.etag,
            validators,
            if_none_match,
            if_modified_since,
            head_only,
        )


class Bodies:
    def __init__(self, log_id: Callable[[], int], max_views: int = 8192) -> None:
        if max_views < 1:
            raise ValueError("max_views must be at least 1")
        self.log_id = log_id
        self.max_views = max_views
        self._views: OrderedDict[Hashable, tuple[int, Rendered]] = OrderedDict()

    def get(self, key: Hashable, render: Callable[[], bytes]) -> Rendered:
        """The view's bytes at the current log id, rendering them when the log has moved on."""
        log_id = self.log_id()
        views = self._views
        found = views.get(key)
        if found is not None and found[0] == log_id:
            views.move_to_end(key)
            return found[1]
        body = render()
        rendered = Rendered(body, etag_of(body), b"%d" % len(body))
        views[key] = (log_id, rendered)
        views.move_to_end(key)
        if len(views) > self.max_views:
            views.popitem(last=False)
        return rendered

    def __len__(self) -> int:
        return len(self._views)
