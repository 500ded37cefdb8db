"""One error shape for the whole service: ``{"error": {"code": "...", "message": "..."}}``.

Every failure a client can meet goes through here: our own ``ApiError``, the store's errors, a
use-case's refusal (``pdsearch.connectors.UseCaseError``, a sync already running, a bad
schedule), FastAPI's validation errors (422), Starlette's 404/405, and anything unexpected (500,
logged with its traceback, answered without one). Messages never carry request input, so a
secret sent in a body can never come back in an error.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from pdsearch.connectors import UseCaseError
from pdsearch.schedule_spec import ScheduleError
from pdsearch.store.errors import ConflictError, InvalidValueError, NotFoundError, StoreError
from pdsearch.sync.service import SyncAlreadyRunning

log = logging.getLogger(__name__)

#: Codes of the HTTP errors Starlette and FastAPI raise themselves (ours are ``ApiError``s).
_STATUS_CODES: dict[int, str] = {
    400: "bad_request",  # a page's form that cannot be parsed (never under /api/v1)
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}


class ApiError(Exception):
    """An error answered as is: an HTTP status, a stable code, a message for people."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status, headers=dict(headers or {}))


def not_found(what: str, ident: str) -> ApiError:
    return ApiError(404, "not_found", f"No {what} with id {ident!r}. List them to see which exist.")


# pydantic puts the tag of a discriminated union into the error's path ("auth.api_key.api_key");
# people know the field as "auth.api_key".
_UNION_TAGS: dict[str, frozenset[str]] = {"auth": frozenset({"api_key", "oauth2"})}


def _drop_union_tags(loc: list[str]) -> list[str]:
    out: list[str] = []
    for i, part in enumerate(loc):
        if i > 0 and i < len(loc) - 1 and part in _UNION_TAGS.get(loc[i - 1], ()):
            continue
        out.append(part)
    return out


def describe_validation_errors(errors: Sequence[Any]) -> str:
    """Name each bad field and what is wrong with it, never the value that was sent."""
    parts: list[str] = []
    for err in errors[:5]:
        if not isinstance(err, Mapping):
            continue
        loc = [str(p) for p in err.get("loc", ())]
        # "body" / "query" / "path" say where; the rest is the field path.
        where = loc[0] if loc and loc[0] in ("body", "query", "path", "header") else ""
        parts_ = _drop_union_tags(loc[1:] if where else loc)
        field = ".".join(p for p in parts_ if p)
        msg = str(err.get("msg", "is invalid"))
        if err.get("type") == "json_invalid":
            ctx = err.get("ctx")
            why = ctx.get("error") if isinstance(ctx, Mapping) else None
            parts.append("request body: is not valid JSON" + (f" ({why})" if why else ""))
            continue
        if err.get("type") == "missing":
            msg = "is required"
        elif err.get("type") == "extra_forbidden":
            msg = "is not a known field"
        elif msg.startswith("Value error, "):
            msg = msg.removeprefix("Value error, ")
        if field:
            label = f"{where} field {field!r}" if where in ("query", "path") else f"{field!r}"
            parts.append(f"{label}: {msg}")
        elif where == "body":
            parts.append(f"request body: {msg}")
        else:
            parts.append(msg)
    if len(errors) > 5:
        parts.append(f"and {len(errors) - 5} more")
    if not parts:
        return "The request is not valid."
    return "Invalid request: " + "; ".join(parts) + "."


def _miswired(exc: Exception, kind: type[Exception]) -> TypeError:
    """A handler was registered for ``kind`` but given ``exc``: a wiring mistake."""
    return TypeError(f"the {kind.__name__} handler was given a {type(exc).__name__}")


async def _api_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, ApiError):
        raise _miswired(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, RequestValidationError):
        raise _miswired(exc, RequestValidationError)
    return error_response(422, "validation_error", describe_validation_errors(exc.errors()))


def route_exists(request: Request, method: str, path: str) -> bool:
    """True when some route of the app serves ``method`` at ``path`` (asked through each
    route's public ``matches``, so routers included in any way are seen)."""
    scope = {**request.scope, "method": method, "path": path, "path_params": {}}
    return any(route.matches(scope)[0] == Match.FULL for route in request.app.routes)


def _allowed_methods(request: Request) -> list[str]:
    path = request.url.path
    return [m for m in ("GET", "POST", "PUT", "PATCH", "DELETE") if route_exists(request, m, path)]


def _unreadable_body(exc: StarletteHTTPException) -> str | None:
    """What is wrong with a JSON body FastAPI could not decode, or None for another 400.

    FastAPI answers malformed JSON with 422 but a body that is not UTF-8, or nested past
    Python's recursion limit, with a bare 400 (raised from the decoding error). Both are
    malformed JSON all the same (RFC 8259: JSON is UTF-8), so they get the same 422."""
    cause = exc.__cause__
    if exc.status_code != 400 or cause is None:
        return None
    if isinstance(cause, UnicodeDecodeError):
        return "is not UTF-8; send JSON encoded in UTF-8"
    if isinstance(cause, RecursionError):
        return "is nested too deeply to read"
    return "could not be read as JSON"


async def _http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, StarletteHTTPException):
        raise _miswired(exc, StarletteHTTPException)
    unreadable = _unreadable_body(exc)
    if unreadable is not None:
        return error_response(
            422, "validation_error", f"Invalid request: request body: {unreadable}."
        )
    code = _STATUS_CODES.get(exc.status_code, "error")
    if exc.status_code == 404:
        message = f"Nothing at {request.url.path}. The API lives under /api/v1; see /docs."
    elif exc.status_code == 405:
        allowed = _allowed_methods(request)
        message = f"{request.method} is not allowed on {request.url.path}." + (
            f" Use {' or '.join(allowed)}." if allowed else ""
        )
        return error_response(405, code, message, {"Allow": ", ".join(allowed)})
    else:
        message = str(exc.detail) if exc.detail else code.replace("_", " ")
    return error_response(exc.status_code, code, message, exc.headers)


async def _store_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, StoreError):
        raise _miswired(exc, StoreError)
    if isinstance(exc, NotFoundError):
        return error_response(404, "not_found", str(exc))
    if isinstance(exc, ConflictError):
        return error_response(409, "conflict", str(exc))
    if isinstance(exc, InvalidValueError):
        return error_response(422, "validation_error", str(exc))
    # What remains is the service's own state failing (e.g. credentials that the configured
    # secret key cannot open): not the client's fault, but the message says what to do.
    log.error("store error answering %s %s: %s", request.method, request.url.path, exc)
    return error_response(500, "store_error", str(exc))


async def _use_case_error(request: Request, exc: Exception) -> Response:
    """A use-case that refused (``pdsearch.connectors``): its stable code, 400 for settings
    PagerDuty cannot be reached with, else 409 (the connector's state does not allow it)."""
    if not isinstance(exc, UseCaseError):
        raise _miswired(exc, UseCaseError)
    status = 400 if exc.code == "invalid_configuration" else 409
    return error_response(status, exc.code, str(exc))


async def _sync_running(request: Request, exc: Exception) -> Response:
    return error_response(409, "sync_running", str(exc))


async def _bad_schedule(request: Request, exc: Exception) -> Response:
    return error_response(422, "validation_error", str(exc))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error answering %s %s", request.method, request.url.path)
    return error_response(
        500,
        "internal_error",
        "The service hit an unexpected error. It was logged; try again, and if it persists "
        "look at the service's log.",
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(StoreError, _store_error)
    app.add_exception_handler(UseCaseError, _use_case_error)
    app.add_exception_handler(SyncAlreadyRunning, _sync_running)
    app.add_exception_handler(ScheduleError, _bad_schedule)
    app.add_exception_handler(Exception, _unexpected)
