# Over 500 lines on purpose: one method per PagerDuty endpoint pdsearch reads (listings, reads
# by id, audit records, on-call), each a few lines over the shared session and pagers; the class
# is the one place a reader looks for "what do we ask PagerDuty".
"""``PagerDutyClient``: the objects the connector reads, as typed models, as fast as allowed.

::

    async with PagerDutyClient(ApiKeyAuth(key), region="eu") as client:
        info = await client.account_info()
        async for user in client.users():
            ...

Listings use ``include[]`` so that a full read fetches nothing one by one, except shift-based (v3)
schedules, whose list carries references only (``schedule_v3(id)``). Every HTTP request, retries
and OAuth token requests included, is counted in ``requests_made``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import httpx
from pydantic import BaseModel, ValidationError

from pdsearch.pagerduty.auth import Auth
from pdsearch.pagerduty.cursor import iter_cursor
from pdsearch.pagerduty.errors import (
    AbilityError,
    BadRequestError,
    InvalidResponseError,
    NotFoundError,
    ScopeError,
)
from pdsearch.pagerduty.models import (
    AuditRecord,
    EscalationPolicy,
    Reference,
    Schedule,
    ScheduleV3,
    Service,
    Team,
    TeamMember,
    User,
)
from pdsearch.pagerduty.oncalls import OnCall, Shift, list_oncalls, schedule_shifts
from pdsearch.pagerduty.paging import OFFSET_CAP, Listing, OffsetReader
from pdsearch.pagerduty.ratelimit import RateLimiter, limiter_for
from pdsearch.pagerduty.regions import api_base_url
from pdsearch.pagerduty.session import Session
from pdsearch.pagerduty.timing import SYSTEM_CLOCK, Clock, RetryPolicy

log = logging.getLogger("pdsearch.pagerduty")

M = TypeVar("M", bound=BaseModel)

USER_AGENT = "pdsearch/0.1 (+https://github.com/pdsearch)"
#: PagerDuty's bounds on ``GET /audit/records``: one query spans at most 31 days, and records are
#: kept 12 months (FACTS §1).
AUDIT_MAX_SPAN = timedelta(days=31)
AUDIT_RETENTION = timedelta(days=365)
V3_PAGE_LIMIT = 1000  # the v3 list's own maximum (FACTS §1), not classic paging's 100


@dataclass(frozen=True)
class AccountInfo:
    """What the credential reaches: the account, whether it is account-level, its abilities."""

    subdomain: str
    account_level: bool
    abilities: frozenset[str] = field(default_factory=frozenset)
    user: User | None = None  # the token's user, for user-level credentials

    def has_ability(self, name: str) -> bool:
        return name in self.abilities


def subdomain_from_url(url: str | None) -> str | None:
    """``acme`` from ``https://acme.pagerduty.com/...`` or ``https://acme.eu.pagerduty.com/...``."""
    if not url:
        return None
    host = (urlsplit(url).hostname or "").lower()
    labels = host.split(".")
    if len(labels) < 3 or not labels[0] or labels[0] in ("www", "app", "api"):
        return None
    if labels[0].isdigit():  # an IP address
        return None
    return labels[0]


def parse_model(model: type[M], raw: Any, path: str, what: str) -> M:
    """``raw`` as ``model``; a wrong shape is an ``InvalidResponseError`` naming the object."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        object_id = raw.get("id") if isinstance(raw, dict) else None
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(object)'}: {e['msg']}"
            for e in exc.errors()[:3]
        )
        named = f"{what} {object_id}" if isinstance(object_id, str) else f"a {what}"
        raise InvalidResponseError(
            f"PagerDuty's answer to GET {path} holds {named} that is not shaped like PagerDuty's "
            f"({problems}). pdsearch may need an update for a change in PagerDuty's API.",
            method="GET",
            path=path,
        ) from None


class PagerDutyClient:
    """An async PagerDuty REST API v2 client; use it as an async context manager.

    ``transport`` is any httpx async transport (``httpx.ASGITransport(app)`` for the simulator,
    ``httpx.MockTransport`` in tests). ``clock``, ``retry`` and ``rng`` make waiting and jitter
    controllable; ``rate_limiter`` overrides the limiter shared per credential.
    """

    def __init__(
        self,
        auth: Auth,
        *,
        region: str = "us",
        base_url: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_concurrency: int = 4,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        rate_limiter: RateLimiter | None = None,
        rng: random.Random | None = None,
        offset_cap: int = OFFSET_CAP,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.auth = auth
        self.base_url = api_base_url(region, base_url)
        self.region = region
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.clock = clock or SYSTEM_CLOCK
        self.rate_limiter = rate_limiter or limiter_for(
            auth.limiter_key(), self.base_url, self.clock
        )
        self.offset_cap = offset_cap  # PagerDuty's offset + limit bound, in case it changes
        self.requests_made = 0
        self._transport = transport
        self._rng = rng or random.Random()
        self._http: httpx.AsyncClient | None = None
        self._session: Session | None = None
        self._account: AccountInfo | None = None
        self._team_ids: list[str] | None = None
        self._subdomain: str | None = None  # learnt from a listed object's html_url
        self._abilities_found: frozenset[str] | None = None

    async def _count(self, request: httpx.Request) -> None:
        self.requests_made += 1

    async def __aenter__(self) -> PagerDutyClient:
        self._http = httpx.AsyncClient(
            transport=self._transport,
            timeout=httpx.Timeout(self.timeout),
            headers={"User-Agent": USER_AGENT},
            event_hooks={"request": [self._count]},
            limits=httpx.Limits(max_connections=self.max_concurrency + 2),
        )
        self._session = Session(
            self._http,
            self.base_url,
            self.auth,
            self.rate_limiter,
            max_concurrency=self.max_concurrency,
            timeout=self.timeout,
            policy=self.retry,
            clock=self.clock,
            rng=self._rng,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
        self._http = None
        self._session = None

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("use PagerDutyClient inside 'async with' before calling it")
        return self._session

    @property
    def retries(self) -> int:
        """Requests sent again after a retryable failure (429 waits not included)."""
        return self._session.retries if self._session is not None else 0

    # -- raw access ------------------------------------------------------------------------

    async def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET ``path`` (e.g. ``/users/me``) with retries and rate limiting; the decoded JSON."""
        _, body = await self.session.request("GET", path, params)
        return body

    async def _get_object(self, path: str, key: str, model: type[M], what: str, **params: Any) -> M:
        body = await self.get(path, params or None)
        if not isinstance(body, dict) or key not in body:
            raise InvalidResponseError(
                f"PagerDuty's answer to GET {path} has no '{key}'; it is not shaped like "
                "PagerDuty's.",
                method="GET",
                path=path,
            )
        return parse_model(model, body[key], path, what)

    async def _list(self, listing: Listing, model: type[M], what: str) -> AsyncIterator[M]:
        listing = replace(listing, cap=self.offset_cap)
        reader = OffsetReader(self.session, listing, self._teams_for_split)
        # Validation stays on the event loop: a page of 100 policies with their targets takes
        # 25-40 ms, and in a worker thread (measured on the large benchmark account) the sync
        # got slower, the loop waiting for the GIL on every step of the other requests.
        async for page in reader.pages():
            self._learn_subdomain(page)
            for raw in page:
                yield parse_model(model, raw, listing.path, what)

    def _learn_subdomain(self, page: list[dict[str, Any]]) -> None:
        if self._subdomain is None and page:
            url = page[0].get("html_url")
            self._subdomain = subdomain_from_url(url if isinstance(url, str) else None)

    # -- account facts ---------------------------------------------------------------------

    async def account_info(self) -> AccountInfo:
        """The account's subdomain, whether the credential is account-level, and its abilities."""
        if self._account is not None:
            return self._account
        user: User | None = None
        account_level = self.auth.account_level
        if account_level is not True:
            try:
                user = await self._get_object("/users/me", "user", User, "user")
                account_level = False
            except BadRequestError as exc:
                # PagerDuty: /users/me "will not work ... with an account-level access token".
                if exc.status_code != 400:
                    raise
                account_level = True
        subdomain = self.auth.subdomain or (subdomain_from_url(user.html_url) if user else None)
        if subdomain is None:
            subdomain = self._subdomain or await self._subdomain_from_objects()
        abilities = await self._abilities()
        self._account = AccountInfo(
            subdomain=subdomain,
            account_level=bool(account_level),
            abilities=abilities,
            user=user,
        )
        log.info(
            "PagerDuty account %s (%s credential, abilities: %s)",
            subdomain,
            "account-level" if account_level else "user-level",
            ", ".join(sorted(abilities)) or "none",
        )
        return self._account

    async def subdomain(self) -> str:
        """The account's subdomain, at the least cost: from the credential (OAuth app tokens),
        from what was already read (account facts, any listed object's ``html_url``), or else
        from one object listed for it. Unlike ``account_info`` it never probes ``/users/me`` or
        the abilities, so a sync that lists objects anyway learns it for free."""
        known = self.auth.subdomain or self._subdomain
        if known is None and self._account is not None:
            known = self._account.subdomain
        if known is None:
            known = self._subdomain = await self._subdomain_from_objects()
        return known

    async def _subdomain_from_objects(self) -> str:
        for path, key in (
            ("/users", "users"),
            ("/escalation_policies", "escalation_policies"),
            ("/schedules", "schedules"),
            ("/teams", "teams"),
        ):
            try:
                body = await self.get(path, {"limit": 1})
            except (ScopeError, AbilityError):
                continue
            items = body.get(key) if isinstance(body, dict) else None
            for item in items if isinstance(items, list) else []:
                found = subdomain_from_url(item.get("html_url") if isinstance(item, dict) else None)
                if found:
                    return found
        raise InvalidResponseError(
            "Could not tell the PagerDuty account's subdomain: no object it returned has a "
            "PagerDuty web address (html_url). Check the base URL points at PagerDuty.",
            method="GET",
            path="/users",
        )

    async def _abilities(self) -> frozenset[str]:
        try:
            body = await self.get("/abilities")
        except ScopeError:
            # No abilities.read scope: probe the one ability that matters by listing teams.
            try:
                await self.get("/teams", {"limit": 1})
            except AbilityError:
                return frozenset()
            return frozenset({"teams"})
        abilities = body.get("abilities") if isinstance(body, dict) else None
        if not isinstance(abilities, list) or not all(isinstance(a, str) for a in abilities):
            raise InvalidResponseError(
                "PagerDuty's answer to GET /abilities has no list of abilities.",
                method="GET",
                path="/abilities",
            )
        return frozenset(abilities)

    async def has_ability(self, name: str) -> bool:
        """One ability, asked directly (``GET /abilities/{name}``: 204 yes, 402 no)."""
        try:
            await self.session.request("GET", f"/abilities/{quote(name, safe='')}")
        except AbilityError:
            return False
        return True

    async def _teams_for_split(self) -> list[str] | None:
        """Team ids for splitting a listing by ``team_ids[]``; None without the teams ability."""
        if self._team_ids is None:
            # Only the abilities matter here, not the rest of the account facts.
            if self._account is not None:
                abilities = self._account.abilities
            else:
                if self._abilities_found is None:
                    self._abilities_found = await self._abilities()
                abilities = self._abilities_found
            if "teams" not in abilities:
                return None
            self._team_ids = [team.id async for team in self.teams()]
        return self._team_ids

    # -- listings --------------------------------------------------------------------------

    def users(self, include_teams: bool = True) -> AsyncIterator[User]:
        """Every user (with role and, by default, teams)."""
        params: dict[str, str | list[str]] = {"include[]": ["teams"]} if include_teams else {}
        listing = Listing(
            "/users", "users", "users", params, team_filter=True, match_fields=("name", "email")
        )
        return self._list(listing, User, "user")

    def teams(self) -> AsyncIterator[Team]:
        """Every team (raises ``AbilityError`` when the account lacks the teams ability)."""
        return self._list(Listing("/teams", "teams", "teams"), Team, "team")

    def services(self) -> AsyncIterator[Service]:
        """Every service (for their descriptions; needs the ``services.read`` scope)."""
        return self._list(Listing("/services", "services", "services"), Service, "service")

    def team_members(self, team_id: str) -> AsyncIterator[TeamMember]:
        """A team's members with their team roles."""
        path = f"/teams/{quote(team_id, safe='')}/members"
        listing = Listing(path, "members", "team members", query=False, id_path=("user", "id"))
        return self._list(listing, TeamMember, "team member")

    def schedules(self) -> AsyncIterator[Schedule]:
        """Every layer-based (v2) schedule, with its layers, users and teams."""
        listing = Listing(
            "/schedules",
            "schedules",
            "schedules",
            {"include[]": ["schedule_layers"]},
            team_filter=True,
        )
        return self._list(listing, Schedule, "schedule")

    def schedule_v3_refs(self) -> AsyncIterator[Reference]:
        """References to every shift-based (v3) schedule; read each with ``schedule_v3(id)``."""
        listing = Listing(
            "/v3/schedules",
            "schedules",
            "shift-based schedules",
            team_filter=True,
            match_fields=("summary", "name"),
            limit=V3_PAGE_LIMIT,
        )
        return self._list(listing, Reference, "schedule reference")

    async def schedule_v3(self, schedule_id: str) -> ScheduleV3:
        """One shift-based schedule with its rotations and events."""
        path = f"/v3/schedules/{quote(schedule_id, safe='')}"
        return await self._get_object(path, "schedule", ScheduleV3, "shift-based schedule")

    def escalation_policies(self) -> AsyncIterator[EscalationPolicy]:
        """Every escalation policy with its rules, targets, teams and services."""
        listing = Listing(
            "/escalation_policies",
            "escalation_policies",
            "escalation policies",
            {"include[]": ["teams", "services", "targets"]},
            team_filter=True,
        )
        return self._list(listing, EscalationPolicy, "escalation policy")

    async def audit_records(
        self,
        *,
        since: str | None = None,
        until: str | None = None,
        root_resource_types: Sequence[str] = (),
    ) -> AsyncIterator[AuditRecord]:
        """Account audit records (cursor paged, newest first); needs the audit trail ability.

        PagerDuty defaults ``since`` to 24 hours ago and refuses an ``until`` more than 31 days
        after ``since`` (``AUDIT_MAX_SPAN``): ask for longer spans window by window. Records
        are kept 12 months (``AUDIT_RETENTION``). ``since`` is inclusive, ``until`` exclusive.
        """
        if since and until:
            span = datetime.fromisoformat(until) - datetime.fromisoformat(since)
            if span > AUDIT_MAX_SPAN:
                raise ValueError("PagerDuty answers audit records at most 31 days at a time")
        params: dict[str, Any] = {}
        if since:
            params["since"] = since
        if until:
            params["until"] = until
        if root_resource_types:
            params["root_resource_types[]"] = list(root_resource_types)
        async for raw in iter_cursor(self.session, "/audit/records", "records", params):
            yield parse_model(AuditRecord, raw, "/audit/records", "audit record")

    async def audit_page(self, *, limit: int = 1) -> list[AuditRecord]:
        """The newest audit records of the last 24 hours (PagerDuty's default window), one
        page: asks whether the credential may read the audit trail (``AbilityError`` 402 without
        the Audit Trail feature, ``ScopeError`` 403 for a token that may not read it)."""
        body = await self.get("/audit/records", {"limit": limit})
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list):
            raise InvalidResponseError(
                "PagerDuty's answer to GET /audit/records has no 'records' list; it is not "
                "shaped like PagerDuty's.",
                method="GET",
                path="/audit/records",
            )
        return [parse_model(AuditRecord, raw, "/audit/records", "audit record") for raw in records]

    # -- objects by id (what an incremental sync reads for each changed object) -------------

    async def user(self, user_id: str) -> User:
        """One user with role and teams, as the users listing gives them."""
        path = f"/users/{quote(user_id, safe='')}"
        return await self._get_object(path, "user", User, "user", **{"include[]": ["teams"]})

    async def team(self, team_id: str) -> Team:
        """One team (``AbilityError`` without the teams ability)."""
        path = f"/teams/{quote(team_id, safe='')}"
        return await self._get_object(path, "team", Team, "team")

    async def escalation_policy(self, policy_id: str) -> EscalationPolicy:
        """One escalation policy with the listing's ``include[]`` (teams, services, targets)."""
        path = f"/escalation_policies/{quote(policy_id, safe='')}"
        return await self._get_object(
            path, "escalation_policy", EscalationPolicy, "escalation policy",
            **{"include[]": ["teams", "services", "targets"]},
        )

    async def schedule(self, schedule_id: str) -> Schedule:
        """One layer-based (v2) schedule with its layers (``NotFoundError`` for a v3 id)."""
        path = f"/schedules/{quote(schedule_id, safe='')}"
        return await self._get_object(path, "schedule", Schedule, "schedule")

    async def exists(self, path: str) -> bool:
        """True when ``GET path`` succeeds, False on 404."""
        try:
            await self.get(path)
        except NotFoundError:
            return False
        return True

    async def escalation_policy_exists(self, policy_id: str) -> bool:
        """True while PagerDuty still has this escalation policy (one GET by id)."""
        return await self.exists(f"/escalation_policies/{quote(policy_id, safe='')}")

    async def schedule_exists(self, schedule_id: str) -> bool:
        """True while PagerDuty still has this schedule, layer-based or shift-based."""
        quoted = quote(schedule_id, safe="")
        if await self.exists(f"/schedules/{quoted}"):
            return True
        try:  # not layer-based (any more): shift-based, or gone
            return await self.exists(f"/v3/schedules/{quoted}")
        except BadRequestError:  # PagerDuty's answer there for a layer-based id
            return False


    # -- who is on call (pdsearch/pagerduty/oncalls.py) ---------------------------------------

    async def oncalls(
        self,
        since: datetime,
        until: datetime,
        *,
        policy_ids: Sequence[str] | None = None,
        only: bool = False,
    ) -> list[OnCall]:
        """Every on-call of every policy meeting ``[since, until]``, users included; past the
        10,000 paging limit split by ``policy_ids`` (else ``PagingLimitError``). ``only``:
        just those of ``policy_ids``."""
        return await list_oncalls(
            self.session, since, until, policy_ids=policy_ids, only=only, cap=self.offset_cap
        )

    async def schedule_shifts(
        self, schedule_id: str, since: datetime, until: datetime
    ) -> list[Shift]:
        """One schedule's final schedule over ``[since, until]`` (whole shifts); layer-based
        first, then shift-based (v3). ``NotFoundError`` when it is neither."""
        try:
            return await schedule_shifts(self.session, schedule_id, since, until)
        except NotFoundError:
            return await schedule_shifts(self.session, schedule_id, since, until, v3=True)
