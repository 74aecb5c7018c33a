"""One JSON shape for every error: ``{"error": {status, code, message, field, value, details}}``."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from rescity.errors import InputError
from rescity.store.base import NotFound, StoreError

log = logging.getLogger("rescity.api")

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    500: "internal",
    503: "unavailable",
}


class ApiError(Exception):
    """An error answered with the standard body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        value: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message = status, message
        self.code = code or _CODES.get(status, "error")
        self.field, self.value, self.headers = field, value, headers


def _safe(v: Any) -> Any:
    """A value that JSON-encodes as UTF-8 whatever the client sent (no lone surrogates)."""
    if v is None or isinstance(v, (bool, int, float)):
        return v
    s = v if isinstance(v, str) else repr(v)
    return s.encode("utf-8", "backslashreplace").decode("utf-8")[:200]


def body(status: int, message: str, *, code: str | None = None, field=None, value=None, details=None) -> dict:
    return {
        "error": {
            "status": status,
            "code": code or _CODES.get(status, "error"),
            "message": _safe(message),
            "field": _safe(field),
            "value": _safe(value),
            "details": details,
        }
    }


def respond(status: int, message: str, headers: dict[str, str] | None = None, **kw: Any) -> JSONResponse:
    return JSONResponse(body(status, message, **kw), status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the standard body."""

    @app.exception_handler(ApiError)
    async def _api(request: Request, e: ApiError):
        return respond(e.status, e.message, code=e.code, field=e.field, value=e.value, headers=e.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, e: RequestValidationError):
        details = []
        for err in e.errors():
            loc = [str(x) for x in err.get("loc", ())]
            details.append(
                {"location": ".".join(loc), "message": _safe(err.get("msg", "")), "type": err.get("type")}
            )
        first = details[0] if details else {"location": "", "message": "invalid request"}
        msg = f"{first['location']}: {first['message']}" if first["location"] else first["message"]
        if len(details) > 1:
            msg += f" (and {len(details) - 1} more problem{'s' if len(details) > 2 else ''}; see details)"
        return respond(422, msg, field=first["location"] or None, details=details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, e: StarletteHTTPException):
        msg = e.detail if isinstance(e.detail, str) else str(e.detail)
        if e.status_code == 404 and msg == "Not Found":
            msg = f"no such endpoint: {request.method} {request.url.path}; see /docs for the API"
        elif e.status_code == 405:
            msg = f"{request.method} is not allowed on {request.url.path}; see /docs for the methods it takes"
        return respond(e.status_code, msg, headers=getattr(e, "headers", None))

    @app.exception_handler(NotFound)
    async def _nf(request: Request, e: NotFound):
        return respond(404, str(e))

    @app.exception_handler(InputError)
    async def _input(request: Request, e: InputError):
        return respond(422, e.message, field=e.field, value=e.value)

    from rescity.api.jobs import QueueFull

    @app.exception_handler(QueueFull)
    async def _queue_full(request: Request, e: QueueFull):
        return respond(429, str(e), headers={"Retry-After": "30"})

    @app.exception_handler(PermissionError)
    async def _perm(request: Request, e: PermissionError):
        return respond(403, str(e))

    @app.exception_handler(StoreError)
    async def _store(request: Request, e: StoreError):
        log.error("store unavailable: %s", e)
        return respond(503, f"the store is unavailable: {e}; try again shortly")

    def _db_errors() -> tuple[tuple[type, ...], tuple[type, ...]]:
        import sqlite3

        conflict: list[type] = [sqlite3.IntegrityError]
        busy: list[type] = [sqlite3.OperationalError]
        try:
            import psycopg

            conflict.append(psycopg.IntegrityError)
            busy.append(psycopg.OperationalError)
        except ImportError:  # pragma: no cover - psycopg is part of the platform extra
            pass
        return tuple(conflict), tuple(busy)

    conflict, busy = _db_errors()

    for cls in conflict:

        @app.exception_handler(cls)
        async def _conflict(request: Request, e: Exception):
            return respond(
                409,
                "the record changed or exists already (another request got there first); reload and retry",
            )

    for cls in busy:

        @app.exception_handler(cls)
        async def _busy(request: Request, e: Exception):
            log.error("store error on %s %s: %s", request.method, request.url.path, e)
            return respond(503, f"the store could not answer ({type(e).__name__}: {e}); try again shortly")

    @app.exception_handler(Exception)
    async def _internal(request: Request, e: Exception):
        ref = uuid.uuid4().hex[:12]
        log.exception("internal error %s on %s %s", ref, request.method, request.url.path)
        return respond(500, f"internal error (reference {ref}); the server log has the details")
