"""Reading whole listings: offset paging past PagerDuty's 10,000 cap, and cursor paging.

Offset paging asks for 100 at a time, follows ``more``, and moves the offset by what actually
arrived. PagerDuty refuses ``offset + limit > 10,000``, so a bigger listing cannot be read in one
go. The first page asks for ``total``; when it is over the cap (or the cap is reached anyway) the
listing is **split** into filtered pieces that are each small enough, and read piece by piece:

1. by ``team_ids[]`` (listings that take it, when the account has the ``teams`` ability): most
   objects are in one team or two, so little is read twice;
2. then, for whatever the teams did not cover (objects in no team), by ``query``. PagerDuty's
   ``query`` matches names (and users' e-mails) by prefix or substring, so a piece ``q`` splits
   into ``q+c`` for every letter and digit and every character seen after ``q`` in the objects
   read so far. A query that matches the whole piece (the e-mail domain every user shares)
   splits nothing and is followed only two levels deep. A piece still over the cap is split
   again the same way (a team's piece by name within the team).

The first page of every piece gives its size. The biggest pieces are read first, and a piece
whose objects were all read already (counted locally, the way the server was seen to match) is
skipped, as is the rest once the parent piece is covered.

Pieces overlap (an object matches several queries, several teams), so objects are de-duplicated
by id. Completeness is then **verified**: the number of distinct objects read must reach the
listing's ``total`` (asked again at the end, in case objects were deleted meanwhile). When no
split can cover a listing, ``PagingLimitError`` says so. Nothing is ever truncated in silence,
though objects already yielded stay yielded: callers must treat the error as an incomplete listing.
"""

from __future__ import annotations

import asyncio
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
#: How deep to follow queries that match a whole piece before giving up on names.
MAX_WHOLE_DEPTH = 2

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
    cap: int = OFFSET_CAP  # PagerDuty's offset + limit bound

    def id_of(self, raw: Any) -> str | None:
        for name in self.id_path:
            raw = raw.get(name) if isinstance(raw, dict) else None
        return raw if isinstance(raw, str) and raw else None


@dataclass
class _Piece:
    query: str = ""
    team: str | None = None
    total: int | None = None
    offset: int = 0
    started: bool = False
    more: bool = True
    capped: bool = False
    next_chars: set[str] = field(default_factory=set)
    whole_depth: int = 0  # how many queries matching everything led here

    def filters(self) -> dict[str, str | list[str]]:
        found: dict[str, str | list[str]] = {}
        if self.query:
            found["query"] = self.query
        if self.team:
            found["team_ids[]"] = [self.team]
        return found

    @property
    def done(self) -> bool:
        return self.started and (self.capped or not self.more)

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
        # id -> the lower-cased texts ``query`` is matched against, to check a piece's coverage
        self.seen: dict[str, tuple[str, ...]] = {}
        self.pieces = 0
        self.substring = False  # learnt from answers: does ``query`` match inside names?

    async def _page(self, piece: _Piece) -> list[dict[str, Any]]:
        """The piece's next page; marks it capped when the rest is past PagerDuty's cap."""
        limit = min(self.listing.limit, self.listing.cap - piece.offset)
        if limit <= 0:
            piece.capped = True
            return []
        first = not piece.started
        items, more, total = await fetch_page(
            self.session, self.listing, piece.filters(), piece.offset, limit, first
        )
        piece.started = True
        piece.more = more
        if first:
            piece.total = total
            if more and total is not None and total > self.listing.cap:
                piece.capped = True  # split now rather than read 10,000 and split anyway
        if more and not items:
            raise InvalidResponseError(
                f"PagerDuty's answer to GET {self.listing.path} says there is more but "
                "returned nothing.",
                method="GET",
                path=self.listing.path,
            )
        piece.offset += len(items)  # by what arrived, not by what was asked for
        self._observe(piece, items)
        return items

    def _observe(self, piece: _Piece, items: Iterable[dict[str, Any]]) -> None:
        query = piece.query.lower()
        for raw in items:
            fields = (raw.get(name) for name in self.listing.match_fields)
            texts = [v.lower() for v in fields if isinstance(v, str)]
            for text in texts:
                piece.next_chars |= _next_chars(text, query)
            if query and not any(t.startswith(query) for t in texts):
                # PagerDuty matched inside a name: ``query`` is a substring match here.
                self.substring = True

    def _fresh(self, items: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
        for raw in items:
            object_id = self.listing.id_of(raw)
            if object_id is not None and object_id not in self.seen:
                texts = (raw.get(name) for name in self.listing.match_fields)
                self.seen[object_id] = tuple(t.lower() for t in texts if isinstance(t, str))
                yield raw

    def _covered(self, piece: _Piece) -> bool:
        """Whether every object of ``piece`` was (very likely) read already."""
        if piece.total is None or piece.team is not None:
            return False
        if not piece.query:
            return len(self.seen) >= piece.total
        needle = piece.query.lower()
        return self._matching(needle) >= piece.total

    def _matching(self, needle: str) -> int:
        """How many objects read so far surely match ``query=needle``."""
        if self.substring:
            return sum(1 for texts in self.seen.values() if any(needle in t for t in texts))
        # Prefix matching, or not known yet: count only what surely matches.
        return sum(1 for texts in self.seen.values() if any(t.startswith(needle) for t in texts))

    async def _teams(self) -> list[str] | None:
        if not self.listing.team_filter:
            return None
        return await self._team_ids()

    def _query_children(self, piece: _Piece) -> list[_Piece] | None:
        if not self.listing.query or len(piece.query) >= MAX_QUERY_LENGTH:
            return None
        extra = {c for c in piece.next_chars if not c.isspace() or piece.query}
        return [
            _Piece(query=piece.query + c, team=piece.team, whole_depth=piece.whole_depth)
            for c in sorted(set(ALPHABET) | extra)
        ]

    async def _team_children(self, piece: _Piece) -> list[_Piece] | None:
        if piece.team is not None:
            return None
        teams = await self._teams()
        if not teams:
            return None
        return [_Piece(query=piece.query, team=t) for t in teams]

    async def _finish(self, piece: _Piece) -> AsyncIterator[dict[str, Any]]:
        """Read the rest of a started piece, splitting it when it is over the cap."""
        while not piece.done:
            for raw in self._fresh(await self._page(piece)):
                yield raw
        if piece.capped:
            async for raw in self._split(piece):
                yield raw

    async def _rest(self, piece: _Piece) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while not piece.done:
            items.extend(await self._page(piece))
        return items

    async def _finish_all(self, pieces: list[_Piece]) -> AsyncIterator[dict[str, Any]]:
        """The remaining pages of every piece that fits under the cap, concurrently."""
        todo = [p for p in pieces if not p.done]
        if not todo:
            return
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._rest(piece)) for piece in todo]
        except BaseExceptionGroup as failed:
            raise failed.exceptions[0] from None
        for task in tasks:
            for raw in self._fresh(task.result()):
                yield raw

    async def _start(self, pieces: list[_Piece]) -> AsyncIterator[dict[str, Any]]:
        """The first page of every piece, fetched concurrently (the session caps how many)."""
        self.pieces += len(pieces)
        if self.pieces > MAX_PIECES:
            raise self._limit_error(
                f"splitting it needed more than {MAX_PIECES:,} filtered requests"
            )
        if len(pieces) == 1:
            pages = [await self._page(pieces[0])]
        else:
            try:
                async with asyncio.TaskGroup() as group:  # one failure cancels the rest
                    tasks = [group.create_task(self._page(piece)) for piece in pieces]
            except BaseExceptionGroup as failed:
                raise failed.exceptions[0] from None  # callers expect the PagerDutyError itself
            pages = [task.result() for task in tasks]
        for items in pages:
            for raw in self._fresh(items):
                yield raw

    async def _split(self, piece: _Piece) -> AsyncIterator[dict[str, Any]]:
        """Read a capped piece through filtered pieces that together cover it.

        Teams first (each object is usually in one team, so little is read twice), then name
        queries for whatever the teams did not cover. The first page of every piece tells its
        size; the biggest are read first, and a piece whose objects were all read already is
        skipped. A query that matches the whole piece (say, the e-mail domain every user
        shares) splits nothing, so such pieces are tried last and only a level or two deep.
        """
        tried = False
        for strategy in ("teams", "query"):
            if strategy == "teams":
                children = await self._team_children(piece)
            else:
                children = self._query_children(piece)
            if children is None:
                continue
            tried = True
            log.info(
                "%s: %s over PagerDuty's 10,000 cap; reading it in %d pieces by %s",
                self.listing.path,
                piece.describe(self.listing.noun),
                len(children),
                "team" if strategy == "teams" else "name",
            )
            async for raw in self._start(children):
                yield raw
            if strategy == "teams":
                # Team pieces are read whole anyway (what they hold cannot be counted locally),
                # so read them concurrently; the session caps requests in flight.
                async for raw in self._finish_all(children):
                    yield raw
            whole = [c for c in children if c.total is not None and c.total == piece.total]
            cap = self.listing.cap
            parts = sorted((c for c in children if c not in whole), key=lambda c: -(c.total or cap))
            if piece.whole_depth >= MAX_WHOLE_DEPTH:
                whole = []
            for child in parts + whole:
                if self._covered(piece):
                    return
                if self._covered(child):
                    continue  # everything it holds was read through other pieces
                if child in whole:
                    child.whole_depth = piece.whole_depth + 1
                async for raw in self._finish(child):
                    yield raw
            if self._covered(piece):
                return
        if not tried:
            raise self._limit_error(
                f"more than {self.listing.cap:,} {piece.describe(self.listing.noun)}, and no "
                "longer name query or team filter can split them"
            )
        if piece.total is not None and piece.team is None and not piece.query:
            raise self._limit_error(
                f"some {piece.describe(self.listing.noun)} match no team and no name query that "
                "splits the listing"
            )

    def _limit_error(self, why: str) -> PagingLimitError:
        return PagingLimitError(
            f"PagerDuty lists at most {self.listing.cap:,} {self.listing.noun} per request, and "
            f"the listing of {self.listing.path} could not be read completely: {why}. The listing "
            "stopped here instead of leaving objects out; nothing that depends on a complete "
            "listing (such as deletions) should run. Narrow the account's data or contact "
            "the pdsearch maintainers.",
            method="GET",
            path=self.listing.path,
        )

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        root = _Piece()
        async for raw in self._start([root]):
            yield raw
        async for raw in self._finish(root):
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
        raise self._limit_error(
            f"the account has {expected:,} {self.listing.noun}, and splitting the listing by name "
            f"and by team reached only {len(self.seen):,} of them"
        )

    async def _complete(self, expected: int) -> bool:
        if len(self.seen) >= expected:
            return True
        _, _, now = await fetch_page(self.session, self.listing, {}, 0, 1, True)
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
        if next_cursor == cursor:
            raise InvalidResponseError(
                f"PagerDuty's answer to GET {path} repeats the cursor it was given.",
                method="GET",
                path=path,
            )
        cursor = next_cursor
