"""Reading whole listings: offset paging past PagerDuty's 10,000 cap, and cursor paging.

Offset paging asks for 100 at a time, follows ``more``, and moves the offset by what actually
arrived. PagerDuty refuses ``offset + limit > 10,000``, so a bigger listing cannot be read in one
go. The first page asks for ``total``; when it is over the cap (or the cap is reached anyway) the
listing is **split** into filtered pieces that are each small enough, and read piece by piece:

1. by ``query``. PagerDuty's ``query`` matches names (and users' e-mails) by prefix or substring,
   so a piece ``q`` splits into ``q+c`` for every letter and digit and for every character seen
   after ``q`` in the objects read so far. An object whose name is exactly ``q`` matches no
   longer query; it sorts first in ``q``'s first page, which is read and kept before splitting.
2. by ``team_ids[]`` (when the account has the ``teams`` ability) for a piece that a longer query
   cannot split any more, or when the query split left objects out.

Pieces overlap (an object matches several queries, several teams), so objects are de-duplicated
by id. Completeness is then **verified**: the number of distinct objects read must reach the
listing's ``total`` (asked again at the end, in case objects were deleted meanwhile). When no
split can cover a listing, ``PagingLimitError`` says so. Nothing is ever truncated in silence,
though objects already yielded stay yielded: callers must treat the error as an incomplete listing.
"""

from __future__ import annotations

import logging
import string
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pdsearch.pagerduty.errors import InvalidResponseError, PagingLimitError
from pdsearch.pagerduty.session import Params, Session

log = logging.getLogger("pdsearch.pagerduty")

OFFSET_CAP = 10_000
PAGE_LIMIT = 100
#: A query this long that still matches over 10,000 objects will not split by name.
MAX_QUERY_LENGTH = 8
#: A bound on the number of filtered pieces one listing may be split into.
MAX_PIECES = 5_000
ALPHABET = string.ascii_lowercase + string.digits

TeamIds = Callable[[], Awaitable[list[str] | None]]


@dataclass(frozen=True)
class Listing:
    """One PagerDuty list endpoint and how it may be filtered."""

    path: str
    key: str  # the body's list field, e.g. "users"
    noun: str  # for messages: "users", "escalation policies"
    params: dict[str, str | list[str]] = field(default_factory=dict)
    query: bool = True  # accepts ``query``
    team_filter: bool = False  # accepts ``team_ids[]``
    match_fields: tuple[str, ...] = ("name",)  # what ``query`` is matched against
    limit: int = PAGE_LIMIT
    id_path: tuple[str, ...] = ("id",)  # where an item's id is (members: ("user", "id"))

    def id_of(self, raw: Any) -> str | None:
        for name in self.id_path:
            raw = raw.get(name) if isinstance(raw, dict) else None
        return raw if isinstance(raw, str) and raw else None


@dataclass
class _Piece:
    query: str = ""
    team: str | None = None
    total: int | None = None
    capped: bool = False
    next_chars: set[str] = field(default_factory=set)
    terminal: int = 0  # objects read here that no longer query can match

    def filters(self) -> dict[str, str | list[str]]:
        found: dict[str, str | list[str]] = {}
        if self.query:
            found["query"] = self.query
        if self.team:
            found["team_ids[]"] = [self.team]
        return found

    def describe(self, noun: str) -> str:
        parts = []
        if self.query:
            parts.append(f"matching {self.query!r}")
        if self.team:
            parts.append(f"in team {self.team}")
        return f"{noun} {' and '.join(parts)}" if parts else noun


def _next_chars(value: str, query: str) -> set[str]:
    """Characters that follow ``query`` anywhere in ``value`` (case-insensitive)."""
    found: set[str] = set()
    if not query:
        return {value[0]} if value else found
    start = value.find(query)
    while start != -1:
        end = start + len(query)
        if end < len(value):
            found.add(value[end])
        start = value.find(query, start + 1)
    return found


async def fetch_page(
    session: Session, listing: Listing, filters: Params, offset: int, limit: int, total: bool
) -> tuple[list[dict[str, Any]], bool, int | None]:
    params: dict[str, Any] = {**listing.params, **filters, "limit": limit, "offset": offset}
    if total:
        params["total"] = True
    _, body = await session.request("GET", listing.path, params)
    if not isinstance(body, dict) or not isinstance(body.get(listing.key), list):
        raise InvalidResponseError(
            f"PagerDuty's answer to GET {listing.path} has no '{listing.key}' list; it is not "
            "shaped like PagerDuty's.",
            method="GET",
            path=listing.path,
        )
    items = body[listing.key]
    if not all(isinstance(i, dict) and listing.id_of(i) for i in items):
        raise InvalidResponseError(
            f"PagerDuty's answer to GET {listing.path} lists {listing.noun} without an id.",
            method="GET",
            path=listing.path,
        )
    reported = body.get("total")
    count = reported if isinstance(reported, int) and not isinstance(reported, bool) else None
    return items, bool(body.get("more")), count


class OffsetReader:
    """Reads one listing completely; see the module docstring."""

    def __init__(self, session: Session, listing: Listing, team_ids: TeamIds) -> None:
        self.session = session
        self.listing = listing
        self._team_ids = team_ids
        self.seen: set[str] = set()
        self.pieces = 0
        self._teams_split_whole = False

    async def _pages(self, piece: _Piece) -> AsyncIterator[list[dict[str, Any]]]:
        offset, limit, first = 0, self.listing.limit, True
        while True:
            limit = min(limit, OFFSET_CAP - offset)
            if limit <= 0:
                piece.capped = True
                return
            items, more, total = await fetch_page(
                self.session, self.listing, piece.filters(), offset, limit, first
            )
            if first:
                piece.total = total
            self._observe(piece, items)
            yield items
            if not more:
                return
            if first and total is not None and total > OFFSET_CAP:
                piece.capped = True  # split now rather than read 10,000 and split anyway
                return
            if not items:
                raise InvalidResponseError(
                    f"PagerDuty's answer to GET {self.listing.path} says there is more but "
                    "returned nothing.",
                    method="GET",
                    path=self.listing.path,
                )
            first = False
            offset += len(items)  # by what arrived, not by what was asked for

    def _observe(self, piece: _Piece, items: Iterable[dict[str, Any]]) -> None:
        query = piece.query.lower()
        for raw in items:
            after: set[str] = set()
            for name in self.listing.match_fields:
                value = raw.get(name)
                if isinstance(value, str):
                    after |= _next_chars(value.lower(), query)
            piece.next_chars |= after
            if not after:
                piece.terminal += 1

    def _fresh(self, items: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
        for raw in items:
            object_id = self.listing.id_of(raw)
            if object_id is not None and object_id not in self.seen:
                self.seen.add(object_id)
                yield raw

    async def _teams(self) -> list[str] | None:
        if not self.listing.team_filter:
            return None
        return await self._team_ids()

    async def _children(self, piece: _Piece) -> list[_Piece] | None:
        if self.listing.query and len(piece.query) < MAX_QUERY_LENGTH:
            chars = sorted(set(ALPHABET) | {c for c in piece.next_chars if not c.isspace()})
            if piece.query:  # a space inside a query is fine; leading ones would be trimmed
                chars = sorted(set(chars) | {c for c in piece.next_chars if c == " "})
            return [_Piece(query=piece.query + c, team=piece.team) for c in chars]
        return await self._team_children(piece)

    async def _team_children(self, piece: _Piece) -> list[_Piece] | None:
        if piece.team is not None:
            return None
        teams = await self._teams()
        if not teams:
            return None
        return [_Piece(query=piece.query, team=t) for t in teams]

    async def _read(self, piece: _Piece) -> AsyncIterator[dict[str, Any]]:
        self.pieces += 1
        if self.pieces > MAX_PIECES:
            raise self._limit_error(
                f"splitting it needed more than {MAX_PIECES} filtered requests"
            )
        async for items in self._pages(piece):
            for raw in self._fresh(items):
                yield raw
        if piece.capped:
            async for raw in self._split(piece):
                yield raw

    async def _split(self, piece: _Piece) -> AsyncIterator[dict[str, Any]]:
        children = await self._children(piece)
        if children is None:
            raise self._limit_error(
                f"more than {OFFSET_CAP:,} {piece.describe(self.listing.noun)}, and no longer "
                "name query or team filter can split them"
            )
        log.info(
            "%s: %s over PagerDuty's 10,000 cap; splitting into %d pieces",
            self.listing.path,
            piece.describe(self.listing.noun),
            len(children),
        )
        covered, known = 0, True
        for child in children:
            async for raw in self._read(child):
                yield raw
            if child.total is None:
                known = False
            else:
                covered += child.total
        by_query = children[0].team == piece.team
        if by_query and known and piece.total is not None:
            missing = piece.total - covered - piece.terminal
            if missing > 0:
                # Some objects match ``piece.query`` but no longer query: try teams for them.
                fallback = await self._team_children(piece)
                if fallback is None:
                    raise self._limit_error(
                        f"{missing:,} {piece.describe(self.listing.noun)} match no longer name "
                        "query, and no team filter can reach them"
                    )
                for child in fallback:
                    async for raw in self._read(child):
                        yield raw

    def _limit_error(self, why: str) -> PagingLimitError:
        return PagingLimitError(
            f"PagerDuty lists at most {OFFSET_CAP:,} {self.listing.noun} per request, and the "
            f"listing of {self.listing.path} could not be read completely: {why}. The listing "
            "stopped here instead of leaving objects out; nothing that depends on a complete "
            "listing (such as deletions) should run. Narrow the account's data or contact "
            "the pdsearch maintainers.",
            method="GET",
            path=self.listing.path,
        )

    async def _current_total(self) -> int | None:
        _, _, total = await fetch_page(self.session, self.listing, {}, 0, 1, True)
        return total

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        root = _Piece()
        async for raw in self._read(root):
            yield raw
        if not root.capped:
            return
        expected = root.total
        if expected is None:
            log.warning(
                "%s: PagerDuty gave no total, so the completeness of a listing past its cap "
                "cannot be verified",
                self.listing.path,
            )
            return
        if await self._complete(expected):
            return
        if not self._teams_split_whole:
            self._teams_split_whole = True
            teams = await self._teams()
            if teams:
                log.info("%s: some objects were missing; reading by team too", self.listing.path)
                for team in teams:
                    async for raw in self._read(_Piece(team=team)):
                        yield raw
                if await self._complete(expected):
                    return
        raise self._limit_error(
            f"the account has {expected:,} {self.listing.noun}, and splitting the listing by name "
            f"and by team reached only {len(self.seen):,} of them"
        )

    async def _complete(self, expected: int) -> bool:
        if len(self.seen) >= expected:
            return True
        now = await self._current_total()
        target = expected if now is None else min(expected, now)
        return len(self.seen) >= target


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
