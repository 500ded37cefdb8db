"""Reading a whole cursor-paged listing (``next_cursor`` until it is null), such as the audit
records; the offset-paged ones are ``paging.py``'s."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pdsearch.pagerduty.errors import InvalidResponseError
from pdsearch.pagerduty.session import Params, Session


async def iter_cursor(
    session: Session, path: str, key: str, params: Params, limit: int = 100
) -> AsyncIterator[dict[str, Any]]:
    """Every item of a cursor-paged listing (``next_cursor`` until it is null)."""
    cursor: str | None = None
    while True:
        query: dict[str, Any] = {**params, "limit": limit}
        if cursor:
            query["cursor"] = cursor
        _, body = await session.request("GET", path, query)
        if not isinstance(body, dict) or not isinstance(body.get(key), list):
            raise InvalidResponseError(
                f"PagerDuty's answer to GET {path} has no '{key}' list; it is not shaped like "
                "PagerDuty's.",
                method="GET",
                path=path,
            )
        for raw in body[key]:
            if not isinstance(raw, dict):
                raise InvalidResponseError(
                    f"PagerDuty's answer to GET {path} lists something that is not an object.",
                    method="GET",
                    path=path,
                )
            yield raw
        next_cursor = body.get("next_cursor")
        if not isinstance(next_cursor, str) or not next_cursor:
            return
        if next_cursor == cursor:
            raise InvalidResponseError(
                f"PagerDuty's answer to GET {path} repeats the cursor it was given.",
                method="GET",
                path=path,
            )
        cursor = next_cursor
