"""The connector use-cases, with one set of rules for the web layer, the CLI, the demo and MCP.

``ConnectorService`` creates, changes, connects, syncs, cancels, schedules, authorizes (OAuth)
and removes connectors. The REST API and the pages call it from their routes, the CLI from its
commands: neither holds a rule of its own.

Removal is safe across the state and the index, whichever process dies where:

1. the connector's schedules go first, so no new run starts;
2. its running sync is canceled and waited for, here or in another process or replica (through
   the store's cancel request); one that will not stop makes the removal refuse, changing
   nothing;
3. the connector is marked ``removing``, then its documents leave the index, then its state
   leaves the store. A crash in between leaves either a ``removing`` connector or documents of a
   connector that no longer exists; ``recover()``, run when a service starts, finishes both.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from pdsearch.index.base import SearchIndex
from pdsearch.pagerduty.auth import HEADER_SAFE_RULE, header_safe
from pdsearch.pagerduty.client import AccountInfo
from pdsearch.pagerduty.errors import OAuthError, PagerDutyError
from pdsearch.pagerduty.oauth import authorization_request, exchange_code
from pdsearch.schedule_spec import validate_spec
from pdsearch.scheduler import SyncScheduler
from pdsearch.store import (
    SCHEDULE_MODES,
    ConflictError,
    Connector,
    InvalidValueError,
    Job,
    NotFoundError,
    Store,
)
from pdsearch.sync.connection import (
    ConnectorError,
    check_connection,
    same_account_warnings,
    token_fields,
)
from pdsearch.sync.modes import SYNC_MODES
from pdsearch.sync.progress import CANCELED, FAILED, ProgressCallback
from pdsearch.sync.service import SyncService, live_job

log = logging.getLogger(__name__)

#: How long removing a connector waits for a sync another process runs to stop.
REMOVE_WAIT_SECONDS: Final = 30.0
#: How long an OAuth state (the round trip through PagerDuty's consent page) stays valid.
OAUTH_STATE_SECONDS: Final = 600
REMOVING: Final = "removing"


@dataclass(frozen=True)
class ApiKey:
    """An API key credential."""

    api_key: str


@dataclass(frozen=True)
class OAuthClient:
    """An OAuth 2.0 app's client id and secret (tokens come from the sign-in)."""

    client_id: str
    client_secret: str


Credentials = ApiKey | OAuthClient


@dataclass(frozen=True)
class Connection:
    """A successful connection check."""

    connector: Connector
    info: AccountInfo
    warnings: list[str]


class UseCaseError(Exception):
    """A use-case refused; ``code`` is stable (the API's error code), the message for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class AuthorizationError(UseCaseError):
    """An OAuth sign-in that did not complete; ``refused`` when PagerDuty said no (else it
    failed to answer)."""

    def __init__(self, code: str, message: str, *, refused: bool = True) -> None:
        super().__init__(code, message)
        self.refused = refused


@dataclass(frozen=True)
class Authorized:
    """A completed OAuth sign-in; ``problem`` when the tokens were stored but the connection
    check that followed failed (a scope not granted, say)."""

    connector: Connector
    subdomain: str | None
    problem: ConnectorError | None


class ConnectorService:
    """The use-cases over one store, one index and one sync service."""

    def __init__(
        self,
        store: Store,
        index: SearchIndex,
        sync: SyncService,
        *,
        scheduler: SyncScheduler | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        remove_wait_seconds: float = REMOVE_WAIT_SECONDS,
    ) -> None:
        self.store = store
        self.index = index
        self.sync = sync
        self.scheduler = scheduler
        self.transport = transport
        self.remove_wait_seconds = remove_wait_seconds

    # -- connectors ---------------------------------------------------------------------------

    def create(
        self,
        name: str,
        credentials: Credentials,
        region: str = "us",
        base_url: str | None = None,
        oauth_base_url: str | None = None,
        *,
        default_schedules: bool = False,
    ) -> Connector:
        """A new connector; with ``default_schedules`` (what the API and the CLI ask for
        unless told not to) it gets ``default_schedules(connector.id)``."""
        auth_type, creds = _stored(credentials)
        connector = self.store.connectors.create(
            name, auth_type, region, creds, base_url=base_url, oauth_base_url=oauth_base_url
        )
        if default_schedules:
            for mode, spec in default_schedule_specs(connector.id).items():
                self.set_schedule(connector.id, spec, mode)
        return connector

    def update(
        self,
        connector_id: str,
        changes: Mapping[str, Any],
        credentials: Credentials | None = None,
    ) -> Connector:
        """Change ``name``, ``region``, ``base_url``, ``oauth_base_url`` (as given in
        ``changes``) and/or the credentials. Where or how PagerDuty is reached changed: the
        connector must be checked again, so its status goes back to new (or to needs
        authorization for OAuth without a token)."""
        connector = self.store.connectors.get(connector_id)
        unknown = set(changes) - {"name", "region", "base_url", "oauth_base_url"}
        if unknown:
            raise InvalidValueError(f"Cannot change {', '.join(sorted(unknown))}.")
        differing = {k: v for k, v in changes.items() if getattr(connector, k) != v}
        reconnect = bool({"region", "base_url", "oauth_base_url"} & differing.keys())
        if differing:
            connector = self.store.connectors.update(connector_id, **differing)
        if credentials is not None:
            auth_type, creds = _stored(credentials)
            self.store.connectors.set_credentials(connector_id, creds)
            if auth_type != connector.auth_type:
                connector = self.store.connectors.update(connector_id, auth_type=auth_type)
            reconnect = True
        if reconnect:
            creds = self.store.connectors.get_credentials(connector_id)
            oauth_without_token = connector.auth_type == "oauth2" and not creds.get("access_token")
            status = "needs_authorization" if oauth_without_token else "new"
            connector = self.store.connectors.set_status(connector_id, status, error=None)
        return connector

    async def connect(self, connector_id: str) -> Connection:
        """Check the credentials against PagerDuty; the outcome is recorded on the connector.
        ``ConnectorError`` (its cause the PagerDuty error) when the check failed."""
        connector = self.store.connectors.get(connector_id)
        info = await check_connection(connector, self.store.connectors, transport=self.transport)
        connector = self.store.connectors.get(connector_id)
        return Connection(connector, info, self.warnings(connector))

    def warnings(self, connector: Connector) -> list[str]:
        """What an admin should know about the connector: another connector reading the same
        PagerDuty account."""
        others, _ = self.store.connectors.list(limit=10_000)
        return same_account_warnings(connector, others)

    async def remove(self, connector_id: str) -> int:
        """Remove the connector with its documents, jobs, schedules and entities (see the module
        docstring); returns how many documents left the index."""
        connector = self.store.connectors.get(connector_id)
        self._remove_schedules(connector_id)
        await self._stop_sync(connector)
        self.store.connectors.set_status(connector_id, REMOVING, error=None)
        removed = self.index.delete_source(connector_id)
        self.store.connectors.delete(connector_id)
        log.info("removed connector %s and its %d documents", connector_id, removed)
        return removed

    def recover(self) -> None:
        """Finish removals a crash interrupted, and drop documents whose connector is gone."""
        connectors, _ = self.store.connectors.list(limit=100_000)
        known = {c.id for c in connectors}
        for connector in connectors:
            if connector.status == REMOVING:
                log.warning("finishing the removal of connector %s", connector.id)
                self.index.delete_source(connector.id)
                self.store.connectors.delete(connector.id)
        for source in self.index.sources():
            if source not in known:
                log.warning("removing %d documents of connector %s, which no longer exists",
                            self.index.delete_source(source), source)

    async def _stop_sync(self, connector: Connector) -> None:
        await self.sync.stop(connector.id)  # one of this process: cancel and wait
        other = live_job(self.store, connector.id)
        if other is None:
            return
        # Another process or replica runs it: ask through the store and wait for it to end.
        self.store.jobs.request_cancel(other.id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.remove_wait_seconds
        while loop.time() < deadline:
            if self.store.jobs.get(other.id).finished:
                return
            await asyncio.sleep(0.2)
        raise ConflictError(
            f"A sync of connector {connector.name!r} runs in another pdsearch process and did "
            f"not stop within {self.remove_wait_seconds:.0f} s; nothing was removed. Try again "
            "when it has ended."
        )

    # -- syncs --------------------------------------------------------------------------------

    def _syncable(self, connector_id: str) -> Connector:
        connector = self.store.connectors.get(connector_id)
        if connector.status == "needs_authorization":
            raise UseCaseError(
                "oauth_authorization_required",
                f"Connector {connector.name!r} is not authorized with PagerDuty yet. Authorize "
                f"it (its Authorization tab, or POST /api/v1/connectors/{connector_id}/oauth/"
                "authorize) before syncing.",
            )
        return connector

    async def start_sync(
        self, connector_id: str, trigger: str = "manual", mode: str | None = None
    ) -> str:
        """Start a sync in the background; returns its job id (``SyncAlreadyRunning`` when one
        runs, here or elsewhere). ``mode``: ``"full"``, ``"incremental"``, or None for
        incremental where available, else full."""
        self._syncable(connector_id)
        _check_mode(mode)
        return await self.sync.start(connector_id, trigger, mode)

    async def run_sync(
        self,
        connector_id: str,
        trigger: str = "manual",
        on_progress: ProgressCallback | None = None,
        mode: str | None = None,
    ) -> Job:
        """Run a sync in the foreground (the CLI) and return its finished job."""
        self._syncable(connector_id)
        _check_mode(mode)
        return await self.sync.run(connector_id, trigger, on_progress, mode)

    def incremental_state(self, connector_id: str) -> dict[str, Any]:
        """Whether incremental syncs are available to the connector, why not, and its audit
        cursor (the connector's ``incremental`` in the API and on its page)."""
        return self.store.sync_state.get(connector_id).to_dict()

    def cancel(self, job_id: str) -> Job:
        """Ask a queued or running job to stop, wherever it runs: here directly, in another
        process or replica through the store. A job whose process is gone is ended at once."""
        job = self.store.jobs.get(job_id)
        if job.finished:
            raise UseCaseError(
                "job_finished", f"Job {job_id} has already finished ({job.status}); nothing to "
                "cancel."
            )
        if self.sync.cancel(job_id):
            return self.store.jobs.get(job_id)
        if live_job(self.store, job.connector_id) is not None:
            self.store.jobs.request_cancel(job_id)
            return self.store.jobs.get(job_id)
        # Queued or running in the store, but its process has stopped: end it now.
        return self.store.jobs.update(
            job_id, status=CANCELED if job.status == "queued" else FAILED,
            error="The process running this sync had stopped; it was ended when canceled.",
        )

    # -- schedules ----------------------------------------------------------------------------

    def set_schedule(
        self, connector_id: str, spec: Mapping[str, Any], mode: str = "full"
    ) -> dict[str, Any]:
        """Validate and persist the connector's schedule of ``mode`` (full or incremental);
        the scheduler's leader, on whichever replica, follows it. ``ScheduleError`` for a bad
        spec."""
        _check_schedule_mode(mode)
        if self.scheduler is not None:
            return self.scheduler.set(connector_id, spec, mode)
        self.store.connectors.get(connector_id)
        self.store.schedules.set(connector_id, validate_spec(spec), mode=mode)
        described = self.describe_schedule(connector_id, mode)
        if described is None:  # pragma: no cover - just written
            raise NotFoundError(f"The schedule of connector {connector_id} was not saved.")
        return described

    def describe_schedule(self, connector_id: str, mode: str = "full") -> dict[str, Any] | None:
        _check_schedule_mode(mode)
        self.store.connectors.get(connector_id)
        if self.scheduler is not None:
            return self.scheduler.describe(connector_id, mode)
        record = self.store.schedules.get_record(connector_id, mode)
        return None if record is None else {**record.spec, "mode": record.mode}

    def describe_schedules(self, connector_id: str) -> list[dict[str, Any]]:
        """Every schedule of the connector (full, then incremental)."""
        self.store.connectors.get(connector_id)
        if self.scheduler is not None:
            return self.scheduler.describe_all(connector_id)
        return [{**r.spec, "mode": r.mode}
                for r in self.store.schedules.list_records(connector_id)]

    def remove_schedule(self, connector_id: str, mode: str = "full") -> bool:
        _check_schedule_mode(mode)
        self.store.connectors.get(connector_id)
        return self.store.schedules.delete(connector_id, mode)

    def _remove_schedules(self, connector_id: str) -> bool:
        return self.store.schedules.delete_all(connector_id) > 0

    # -- OAuth 2.0 sign-in --------------------------------------------------------------------

    def oauth_client_id(self, connector_id: str) -> str:
        """The OAuth connector's client id; ``UseCaseError`` when it is not an OAuth connector
        or has none yet."""
        connector = self.store.connectors.get(connector_id)
        if connector.auth_type != "oauth2":
            raise UseCaseError(
                "not_oauth_connector",
                f"Connector {connector.name!r} uses an API key, not OAuth. Change its auth to "
                '{"type": "oauth2", ...} with PATCH first.',
            )
        client_id = self.store.connectors.get_credentials(connector_id).get("client_id")
        if not client_id:
            raise UseCaseError(
                "missing_credentials",
                f"Connector {connector.name!r} has no OAuth client id. Set auth with PATCH first.",
            )
        return client_id

    def begin_authorization(self, connector_id: str, callback_url: str) -> str:
        """PagerDuty's authorize URL with a fresh one-time state bound to the connector (PKCE:
        the verifier stays in the store)."""
        client_id = self.oauth_client_id(connector_id)
        connector = self.store.connectors.get(connector_id)
        try:
            request = authorization_request(
                client_id, callback_url, region=connector.region,
                oauth_base_url=connector.oauth_base_url,
            )
        except PagerDutyError as exc:  # e.g. an OAuth host the client refuses
            raise UseCaseError("invalid_configuration", str(exc)) from None
        state = self.store.oauth.create_state(
            connector_id, request.code_verifier, callback_url, ttl_seconds=OAUTH_STATE_SECONDS
        )
        log.info("sending a browser to PagerDuty to authorize connector %s", connector_id)
        return _with_state(request.url, state)

    async def complete_authorization(
        self, state: str | None, code: str | None, error: str | None = None,
        error_description: str | None = None,
    ) -> Authorized:
        """Consume the state, exchange the code, store the tokens, check the connection.

        ``AuthorizationError`` when nothing was stored: an unknown, used or expired state
        (``invalid_state``), consent denied (``oauth_denied``), PagerDuty refusing or failing
        the exchange (``oauth_failed``). A failed re-authorization keeps a working token.
        """
        bound = self.store.oauth.consume_state(state) if state else None
        if bound is None:
            raise AuthorizationError(
                "invalid_state",
                "This sign-in response is not valid: its state is unknown, was already used, or "
                "expired. Nothing was stored. Start the authorization again from the connector.",
            )
        connector_id, code_verifier, callback_url = bound
        try:
            connector = self.store.connectors.get(connector_id)
        except NotFoundError:
            raise AuthorizationError(
                "invalid_state", "The connector was removed during the sign-in."
            ) from None
        creds = self.store.connectors.get_credentials(connector_id)
        keep = connector.status if creds.get("access_token") else "needs_authorization"
        if error or not code:
            message = (
                f"PagerDuty did not grant access ({error or 'no authorization code'}"
                + (f": {error_description}" if error_description else "")
                + "). Start the authorization again and approve access."
            )
            self.store.connectors.set_status(connector_id, keep, error=message)
            raise AuthorizationError("oauth_denied", message)
        try:
            token = await exchange_code(
                creds.get("client_id", ""), creds.get("client_secret", ""), code, code_verifier,
                callback_url, region=connector.region, oauth_base_url=connector.oauth_base_url,
                transport=self.transport,
            )
        except PagerDutyError as exc:
            message = (
                f"PagerDuty refused the sign-in: {exc} Check the connector's client id and "
                "secret and its OAuth host, then authorize again."
            )
            self.store.connectors.set_status(connector_id, keep, error=message)
            refused = isinstance(exc, OAuthError) or 400 <= (exc.status_code or 0) < 500
            raise AuthorizationError("oauth_failed", message, refused=refused) from None
        self.store.connectors.update_credentials(connector_id, **token_fields(token))
        log.info("stored OAuth tokens for connector %s", connector_id)
        try:
            connection = await self.connect(connector_id)
        except ConnectorError as exc:  # the tokens stay; the connector shows the cause
            return Authorized(self.store.connectors.get(connector_id), None, exc)
        return Authorized(connection.connector, connection.info.subdomain, None)


def _check_mode(mode: str | None) -> None:
    if mode is not None and mode not in SYNC_MODES:
        raise UseCaseError(
            "invalid_mode", f"A sync's mode is one of {', '.join(SYNC_MODES)} (got {mode!r})."
        )


def default_schedule_specs(connector_id: str) -> dict[str, dict[str, Any]]:
    """A new connector's schedules: an incremental sync every 5 minutes, and a full sync once
    a day as the safety net, at a minute between 01:00 and 04:59 UTC taken from a hash of the
    connector's id, so that an installation's connectors do not all read PagerDuty at once."""
    slot = int.from_bytes(hashlib.sha256(connector_id.encode()).digest()[:4], "big") % 240
    return {
        "incremental": {"interval_minutes": 5},
        "full": {"cron": f"{slot % 60} {1 + slot // 60} * * *"},
    }


def _check_schedule_mode(mode: str) -> None:
    if mode not in SCHEDULE_MODES:
        raise InvalidValueError(
            f"A schedule's mode is one of {', '.join(SCHEDULE_MODES)}; got {mode!r}."
        )


def _stored(credentials: Credentials) -> tuple[str, dict[str, str]]:
    """The auth type and the stored fields; a value that cannot travel in an HTTP header is
    refused here, for every way in (API, pages, CLI)."""
    fields: dict[str, str] = (
        {"api_key": credentials.api_key} if isinstance(credentials, ApiKey)
        else {"client_id": credentials.client_id, "client_secret": credentials.client_secret}
    )
    for field, value in fields.items():
        if not header_safe(value):
            raise InvalidValueError(f"The {field.replace('_', ' ')} {HEADER_SAFE_RULE}.")
    return ("api_key" if isinstance(credentials, ApiKey) else "oauth2"), fields


def _with_state(url: str, state: str) -> str:
    """The URL with its ``state`` parameter set to ours: the store's state is the one we check."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "state"]
    query.append(("state", state))
    return urlunsplit(parts._replace(query=urlencode(query)))

