"""One error base class and one handler: every failure leaves as ``{"detail": ...}``.

Services raise :class:`AppError` subclasses; ``install_error_handlers`` maps them, validation
errors (422) and unexpected exceptions (a bare 500, never a stack trace) to JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger(__name__)


class AppError(Exception):
    status_code: ClassVar[int] = 500
    default_detail: ClassVar[str] = "internal error"

    def __init__(self, detail: Any = None, headers: Mapping[str, str] | None = None) -> None:
        self.detail = detail if detail is not None else self.default_detail
        self.headers = dict(headers or {})
        super().__init__(str(self.detail))


class BadRequest(AppError):
    status_code = 400
    default_detail = "bad request"


class Unauthorized(AppError):
    status_code = 401
    default_detail = "not authenticated"

    def __init__(self, detail: Any = None, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail, {"WWW-Authenticate": "Bearer", **(headers or {})})


class Forbidden(AppError):
    status_code = 403
    default_detail = "forbidden"


class NotFound(AppError):
    status_code = 404
    default_detail = "not found"


class Conflict(AppError):
    status_code = 409
    default_detail = "conflict"


class Unprocessable(AppError):
    status_code = 422
    default_detail = "unprocessable"


class RateLimited(AppError):
    status_code = 429
    default_detail = "too many requests"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(None, {"Retry-After": str(max(1, retry_after_s))})


class Unavailable(AppError):
    status_code = 503
    default_detail = "a dependency is unavailable, try again shortly"

    def __init__(self, detail: Any = None) -> None:
        super().__init__(detail, {"Retry-After": "1"})


def error_response(status_code: int, detail: Any, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status_code, headers=dict(headers or {}))


async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return error_response(exc.status_code, exc.detail, exc.headers)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return error_response(exc.status_code, exc.detail, exc.headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Keep type/loc/msg; drop "input" and "ctx" so a rejected secret is never echoed back.
    errors = [
        {"type": e.get("type"), "loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in exc.errors()
    ]
    return error_response(422, errors)


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled_error", error_type=type(exc).__name__)
    return error_response(500, "internal error")


def install_error_handlers(
    app: FastAPI,
    unavailable: tuple[type[Exception], ...] = (),
    extra: Mapping[type[Exception], Callable[..., Any]] | None = None,
) -> None:
    """Register the JSON handlers; ``unavailable`` exception types become 503."""
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)

    async def _dependency_down(_: Request, exc: Exception) -> JSONResponse:
        log.warning("dependency_unavailable", error_type=type(exc).__name__)
        return error_response(503, Unavailable.default_detail, {"Retry-After": "1"})

    for exc_type in unavailable:
        app.add_exception_handler(exc_type, _dependency_down)
    for exc_type, handler in (extra or {}).items():
        app.add_exception_handler(exc_type, handler)
    app.add_exception_handler(Exception, _unexpected)
