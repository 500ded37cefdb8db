"""What every REST handler shares: the call it gets, the errors it raises, the route table type."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request

from pdsearch.simulator.auth import Principal
from pdsearch.simulator.state import Simulator

# The simulator's own bound on a request body (PagerDuty's is not documented); its largest
# legitimate bodies, a schedule with many layers or a policy with many rules, are a few KiB.
MAX_BODY_BYTES = 1024 * 1024


class ApiError(Exception):
    """An error answer in PagerDuty's shape: ``{"error": {"message", "code", "errors"}}``.

    ``errors`` is a list of strings for v2 endpoints, or a field → messages map for the v3 ones
    (``V3ErrorResponse``). ``raw`` replaces the whole body where PagerDuty answers otherwise.
    """

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        errors: list[str] | dict[str, list[str]] | None = None,
        *,
        raw: Any = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.raw = raw

    def body(self) -> Any:
        if self.raw is not None:
            return self.raw
        error: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            error["errors"] = self.errors
        return {"error": error}


def not_found(what: str = "Not Found", code: int = 2100) -> ApiError:
    return ApiError(404, code, what)


def invalid(message: str, code: int = 2001) -> ApiError:
    return ApiError(400, code, "Invalid Input Provided", [message])


@dataclass
class Call:
    sim: Simulator
    principal: Principal
    request: Request
    params: dict[str, str]
    query: QueryParams = field(init=False)
    _raw: bytes | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.query = self.request.query_params

    def list_param(self, name: str) -> list[str]:
        """A set filter such as ``team_ids[]``; PagerDuty also accepts it without the brackets."""
        values = self.query.getlist(name + "[]") or self.query.getlist(name)
        return [v for v in values if v]

    async def raw_body(self) -> bytes:
        """The body, refused (400) past ``MAX_BODY_BYTES`` without reading further."""
        if self._raw is not None:
            return self._raw
        declared = self.request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise invalid(f"The request body is larger than {MAX_BODY_BYTES} bytes.")
        chunks: list[bytes] = []
        size = 0
        async for chunk in self.request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise invalid(f"The request body is larger than {MAX_BODY_BYTES} bytes.")
            chunks.append(chunk)
        self._raw = b"".join(chunks)
        return self._raw

    async def json_body(self) -> dict[str, Any]:
        raw = await self.raw_body()
        try:
            body = json.loads(raw or b"null")
        except (ValueError, UnicodeDecodeError, RecursionError):
            # RecursionError: nesting deeper than the parser's stack, e.g. 100,000 "[".
            raise invalid("The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise invalid("The request body must be a JSON object.")
        return body


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any = None
    raw: bytes | None = None  # the body already serialised (a cached page)


def dump(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


Handler = Callable[[Call], Awaitable[Reply]]
