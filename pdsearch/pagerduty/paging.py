"""Reading whole offset-paged listings, past PagerDuty's 10,000 cap (cursor paging: ``cursor.py``).

Offset paging asks for 100 at a time, follows ``more``, and moves the offset by what actually
arrived. The first page asks for ``total``: when it comes, the other pages' offsets are known, so
they are all requested at once (the session keeps at most its concurrency cap in flight, within
the rate limit) and yielded as they arrive. Pages read side by side are no snapshot, so the
distinct objects are counted against ``total``: fewer means the listing changed meanwhile and is
read again page by page (``_changed``). PagerDuty refuses ``offset + limit > 10,000``, so a
bigger listing cannot be read in one go: when ``total`` is over the cap (or the cap is reached
anyway) the listing is **split** into filtered pieces that are each small enough, and read
piece by piece (each piece's own pages side by side, as above):

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
    ids: set[str] = field(default_factory=set)  # distinct objects its pages held

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
        self._record(piece, items)
        return items

    def _record(self, piece: _Piece, items: list[dict[str, Any]]) -> None:
        piece.ids.update(i for i in map(self.listing.id_of, items) if i is not None)
        self._observe(piece, items)

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

    async def _finish(self, piece: _Piece) -> AsyncIterator[list[dict[str, Any]]]:
        """Read the rest of a started piece, splitting it when it is over the cap."""
        async for items in self._rest_pages(piece):
            yield list(self._fresh(items))
        if piece.capped:
            async for page in self._split(piece):
                yield page

    async def _rest_pages(self, piece: _Piece) -> AsyncIterator[list[dict[str, Any]]]:
        """The rest of a started piece's pages: concurrently once their offsets are known."""
        if not piece.done and piece.total is not None and piece.offset > 0:
            async for items in self._known_pages(piece):
                yield items
            while not piece.done:  # objects added meanwhile: one page after another
                yield await self._page(piece)
            if self._changed(piece):
                log.info(
                    "%s: the %s changed while they were read; reading them again page by page",
                    self.listing.path,
                    piece.describe(self.listing.noun),
                )
                piece.offset, piece.more = 0, True
        while not piece.done:
            yield await self._page(piece)

    async def _known_pages(self, piece: _Piece) -> AsyncIterator[list[dict[str, Any]]]:
        """Every page up to the piece's ``total``, requested at once (the session caps how many
        are in flight), yielded as they arrive.

        The first page's size is the step (PagerDuty may serve fewer than asked). Afterwards the
        piece stands where a page-by-page read would: at the last page's end, following its
        ``more``.
        """
        if piece.total is None:
            raise RuntimeError("a piece is read in parallel only once its total is known")
        step = piece.offset
        offsets = list(range(step, min(piece.total, self.listing.cap), step))
        if not offsets:
            return
        filters = piece.filters()

        async def one(offset: int) -> tuple[int, list[dict[str, Any]], bool]:
            limit = min(step, self.listing.cap - offset)
            items, more, _ = await fetch_page(
                self.session, self.listing, filters, offset, limit, False
            )
            return offset, items, more

        tasks = [asyncio.ensure_future(one(offset)) for offset in offsets]
        try:
            for next_done in asyncio.as_completed(tasks):
                offset, items, more = await next_done
                if offset == offsets[-1]:
                    piece.offset, piece.more = offset + len(items), more
                self._record(piece, items)
                yield items
        finally:  # a failure (or a consumer that stops) leaves no request behind
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _changed(self, piece: _Piece) -> bool:
        """Whether objects of a piece read by known offsets may have been missed.

        Pages read side by side are no snapshot: an object deleted meanwhile shifts the later
        pages back, and the object at a page's edge then falls between two of them. Fewer
        distinct objects than ``total`` said tells it (an object deleted is not told from one
        missed, so both mean a second read). Objects added only shift pages forward: they give
        duplicates, which are dropped, and ``more`` on the last page, which is followed; one
        added before a page already read is missed, as it would be by a page-by-page read.
        """
        if piece.total is None:
            raise RuntimeError("a piece's completeness is judged only once its total is known")
        return len(piece.ids) < min(piece.total, self.listing.cap)

    async def _rest(self, piece: _Piece) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        async for page in self._rest_pages(piece):
            items.extend(page)
        return items

    async def _finish_all(self, pieces: list[_Piece]) -> AsyncIterator[list[dict[str, Any]]]:
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
            yield list(self._fresh(task.result()))

    async def _start(self, pieces: list[_Piece]) -> AsyncIterator[list[dict[str, Any]]]:
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
            yield list(self._fresh(items))

    async def _split(self, piece: _Piece) -> AsyncIterator[list[dict[str, Any]]]:
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
            async for page in self._start(children):
                yield page
            if strategy == "teams":
                # Team pieces are read whole anyway (what they hold cannot be counted locally),
                # so read them concurrently; the session caps requests in flight.
                async for page in self._finish_all(children):
                    yield page
            async for page in self._finish_children(piece, children):
                yield page
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

    async def _finish_children(
        self, piece: _Piece, children: list[_Piece]
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Read on the children of ``piece`` whose first page is in: the biggest first, those
        that match the whole piece last (and not at all past ``MAX_WHOLE_DEPTH``), stopping
        once the piece is covered."""
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
            async for page in self._finish(child):
                yield page

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
        async for page in self.pages():
            for raw in page:
                yield raw

    async def pages(self) -> AsyncIterator[list[dict[str, Any]]]:
        """The listing page by page, each page's objects not yielded before (by id)."""
        root = _Piece()
        async for page in self._start([root]):
            yield page
        async for page in self._finish(root):
            yield page
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
