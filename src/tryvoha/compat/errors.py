"""Error answers both compatible surfaces' clients understand.

alerts.in.ua clients read `message`; tryvoha's own rule is `{"error": {"code", "message"}}`. One
body carries both.
"""

from __future__ import annotations

import orjson
from fastapi import Response


def error_body(code: str, message: str) -> bytes:
    return orjson.dumps({"message": message, "error": {"code": code, "message": message}})


def compat_error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        error_body(code, message),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )
