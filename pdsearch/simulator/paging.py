"""PagerDuty's two pagination styles: classic offset paging and cursor paging.

Classic (FACTS §2): ``limit`` defaults to 25 and is capped at 100 (a bigger value is clamped and
echoed back as 100), ``more`` says whether another page exists, ``total`` is ``null`` unless
``total=true``, and ``offset + limit`` above 10,000 is refused with 400 code 2002. Cursor paging
answers ``limit`` and ``next_cursor`` (``null`` at the end); the cursor is opaque to clients.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.datastructures import QueryParams

T = TypeVar("T")

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
OFFSET_CAP = 10_000
CURSOR_DEFAULT_LIMIT = 100
CURSOR_MAX_LIMIT = 100

CAP_MESSAGE = (
    "Offset+limit exceeds maximum allowed value of 10000. "
    "Please try to refine your search to reduce the number of results."
)


class PagingError(Exception):
    """A paging argument PagerDuty would refuse; rendered as a 400 by the app."""

    def __init__(self, code: int, message: str, errors: list[str], param: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.errors = errors
        self.param = param  # the query parameter at fault


@dataclass(frozen=True)
class OffsetParams:
    limit: int
    offset: int
    total: bool


def _int_param(query: QueryParams, name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise PagingError(
            2001, "Invalid Input Provided", [f"{name} must be an integer."], name
        ) from None


def _bool_param(query: QueryParams, name: str) -> bool:
    return (query.get(name) or "").lower() == "true"


def parse_offset(
    query: QueryParams,
    *,
    default_limit: int = DEFAULT_LIMIT,
    max_limit: int = MAX_LIMIT,
    cap: int | None = OFFSET_CAP,
) -> OffsetParams:
    limit = _int_param(query, "limit", default_limit)
    offset = _int_param(query, "offset", 0)
    if limit < 1:
        raise PagingError(2001, "Invalid Input Provided", ["limit must be at least 1."], "limit")
    if offset < 0:
        raise PagingError(
            2001, "Invalid Input Provided", ["offset must not be negative."], "offset"
        )
    limit = min(limit, max_limit)
    if cap is not None and offset + limit > cap:
        raise PagingError(2002, "Arguments Caused Error", [CAP_MESSAGE], "offset")
    return OffsetParams(limit=limit, offset=offset, total=_bool_param(query, "total"))


def offset_page(items: Sequence[T], params: OffsetParams) -> tuple[Sequence[T], dict[str, Any]]:
    """The page of ``items`` and the pagination fields to merge into the body."""
    page = items[params.offset : params.offset + params.limit]
    meta: dict[str, Any] = {
        "limit": params.limit,
        "offset": params.offset,
        "more": params.offset + len(page) < len(items),
        "total": len(items) if params.total else None,
    }
    return page, meta


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise PagingError(
            2001, "Invalid Input Provided", ["cursor is not valid."], "cursor"
        ) from None


def cursor_page(
    items: Sequence[T], query: QueryParams, key: Callable[[T], str]
) -> tuple[Sequence[T], dict[str, Any]]:
    """A keyset page: the cursor names the last item served, so later inserts shift nothing.

    ``items`` must be sorted by descending ``key``.
    """
    limit = _int_param(query, "limit", CURSOR_DEFAULT_LIMIT)
    if limit < 1:
        raise PagingError(2001, "Invalid Input Provided", ["limit must be at least 1."], "limit")
    limit = min(limit, CURSOR_MAX_LIMIT)
    cursor = query.get("cursor")
    start = 0
    if cursor:
        after = decode_cursor(cursor)
        start = next((n for n, item in enumerate(items) if key(item) < after), len(items))
    page = items[start : start + limit]
    more = start + len(page) < len(items)
    next_cursor = encode_cursor(key(page[-1])) if more and page else None
    return page, {"limit": limit, "next_cursor": next_cursor}
