"""A JSON response rendered by orjson: fast, and exact with datetimes and non-ASCII names.

It is a Starlette `JSONResponse`, so the OpenAPI document knows these bodies are JSON (and takes
their schema from each route's documented model) rather than calling them strings.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse as StarletteJSONResponse


class JSONResponse(StarletteJSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
