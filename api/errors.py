"""One error shape everywhere: `{"error": {"code", "message"}}` with a 4xx status, or a 503 when a part the answer
needs (Redis, the broker, ClickHouse) cannot be reached in time: the caller may retry."""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException

from quantdesk.warehouse import Unreachable


class ErrorBody(BaseModel):
    """What went wrong, for a person and for a program."""

    code: str
    message: str


class ErrorResponse(BaseModel):
    """The body of every error response."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"error": {"code": "forbidden", "message": "a session reaches only its own wallet"}}]})

    error: ErrorBody


CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict", 413: "too_large",
         422: "invalid_request", 429: "rate_limited", 431: "headers_too_large", 503: "unavailable"}
RETRY_S = 5  # what a 503 tells the caller to wait


class Unavailable(Exception):
    """A part the answer needs cannot be reached now: answered 503 with Retry-After, counted by part."""

    def __init__(self, part: str, message: str) -> None:
        super().__init__(message)
        self.part, self.message = part, message


def error(status: int, code: str, message: str) -> JSONResponse:
    """Return an error response in the platform's shape."""
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    """Render an HTTPException in the platform's shape."""
    assert isinstance(exc, HTTPException)
    code = CODES.get(exc.status_code, "bad_request")
    response = error(exc.status_code, code, str(exc.detail))
    response.headers.update(getattr(request.state, "rate_limit_headers", {}))
    response.headers.update(exc.headers or {})
    return response


async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    """Render a request validation error as a 422 that names the field."""
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    response = error(422, "invalid_request", f"{where}: {first['msg']}")
    response.headers.update(getattr(request.state, "rate_limit_headers", {}))
    return response


async def on_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """Render a part that cannot be reached as a 503 that names it and says when to retry."""
    assert isinstance(exc, Unavailable)
    request.app.state.metrics.inc("gateway_unreachable_total", part=exc.part)
    response = error(503, "unavailable", exc.message)
    response.headers.update(getattr(request.state, "rate_limit_headers", {}))
    response.headers["Retry-After"] = str(RETRY_S)
    return response


async def on_unreachable_warehouse(request: Request, exc: Exception) -> JSONResponse:
    """Render a ClickHouse server that cannot be reached as any unreachable part is."""
    return await on_unavailable(request, Unavailable("clickhouse", f"{exc}; retry once it answers"))


def install(app: FastAPI) -> None:
    """Install the error handlers."""
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(Unavailable, on_unavailable)
    app.add_exception_handler(Unreachable, on_unreachable_warehouse)


RESPONSES = {404: {"model": ErrorResponse}, 422: {"model": ErrorResponse},
             429: {"model": ErrorResponse, "description": "rate limited; see Retry-After"}}
UNAVAILABLE = {503: {"model": ErrorResponse,
                     "description": "a part the answer needs cannot be reached; see Retry-After"}}
