"""Every error is JSON that names the problem: `{"error": {"code": …, "message": …}}`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from tryvoha.alerts.commands import Rejected
from tryvoha.api.responses import JSONResponse
from tryvoha.hub import not_the_writer
from tryvoha.store.fencing import NotTheWriter

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="tryvoha"'}
"""Sent with every 401, whoever refuses: the request's auth, or the writer at commit."""


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, **extra}}
    return JSONResponse(body, status_code=status, headers=headers)


class ApiError(Exception):
    """Raised by handlers for a 4xx answer that is not a domain rule (auth, bad parameters)."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "unavailable",
}


def _describe(error: dict[str, Any]) -> str:
    where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path"))
    return f"{where or 'request'}: {error.get('msg', 'invalid')}"


def install(app: FastAPI) -> None:
    @app.exception_handler(Rejected)
    async def rejected(_: Request, exc: Rejected) -> JSONResponse:
        retry = exc.extra.get("retry_after")
        headers = {} if retry is None else {"Retry-After": str(retry)}
        if exc.http_status == 401:
            headers.update(CHALLENGE)
        return JSONResponse(exc.body(), status_code=exc.http_status, headers=headers or None)

    @app.exception_handler(NotTheWriter)
    async def fenced_off(request: Request, exc: NotTheWriter) -> JSONResponse:
        """Another writer took over while the request was being served (a subscription change
        writes under the writer's fence): nothing was written, the other writer takes it."""
        return await rejected(request, not_the_writer(f"{exc}; retry at the current writer"))

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [_describe(e) for e in exc.errors()]
        return error_response(
            422, "invalid_request", "; ".join(problems) or "invalid request", problems=problems
        )

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        code = _CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return error_response(exc.status_code, code, message, dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def server_error(_: Request, exc: Exception) -> JSONResponse:
        """A fault of the hub, not of the request: JSON like every other error (the server logs
        the exception once this answer is out)."""
        return error_response(
            500, "internal_error", "the hub failed to answer; the fault is logged"
        )
