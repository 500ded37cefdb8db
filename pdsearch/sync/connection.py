"""From a stored connector to a working PagerDuty client, and the connection check.

Credentials are read decrypted from the store only here, handed to the client's auth, and never
logged. A refreshed OAuth token is written back through ``connectors.update_credentials``
before the client uses it, so a rotated refresh token (PagerDuty rotates them) is never lost.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import httpx

from pdsearch.pagerduty.auth import ApiKeyAuth
from pdsearch.pagerduty.client import AccountInfo, PagerDutyClient
from pdsearch.pagerduty.errors import (
    AuthenticationError,
    OAuthError,
    PagerDutyError,
    TransportError,
)
from pdsearch.pagerduty.oauth import OAuthAuth, OAuthToken
from pdsearch.pagerduty.regions import api_base_url
from pdsearch.pagerduty.timing import RetryPolicy
from pdsearch.store import ConnectorRepository
from pdsearch.store.records import Connector

log = logging.getLogger(__name__)

#: A person waits for the connection check: a host that never answers is reported within
#: about half a minute (a sync keeps the client's longer patience); a refused connection
#: within a second (the client retries it once, quickly).
CHECK_TIMEOUT = 10.0
CHECK_RETRY = RetryPolicy(max_attempts=3, max_elapsed=25.0, max_rate_limit_wait=60.0)


class ConnectorError(Exception):
    """The connector cannot be used as configured; the message says why and what to do."""


class MissingCredentialsError(ConnectorError):
    pass


def _parse_expiry(value: str | None) -> float | None:
    """Stored ``expires_at`` is epoch seconds or ISO 8601; both are accepted."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def token_fields(token: OAuthToken) -> dict[str, str | None]:
    """The stored credential fields of an OAuth token (refreshed or newly exchanged)."""
    expires: Any = token.expires_at
    if isinstance(expires, datetime):
        expires = expires.timestamp()
    return {
        "access_token": token.access_token,
        "refresh_token": token.refresh_token or None,
        "expires_at": None if expires is None else str(expires),
        "scope": token.scope or None,
    }


def client_for(
    connector: Connector,
    connectors: ConnectorRepository,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    **options: Any,
) -> PagerDutyClient:
    """A client for ``connector`` with its stored credentials; use it as an async context manager.

    ``options`` go to ``PagerDutyClient`` (``retry``, ``clock``, ``max_concurrency``, ...).

    Raises ``MissingCredentialsError`` when the connector cannot authenticate yet (an OAuth
    connector that was never authorized).
    """
    creds = connectors.get_credentials(connector.id)
    auth: Any
    if connector.auth_type == "api_key":
        key = creds.get("api_key")
        if not key:
            raise MissingCredentialsError(
                f"Connector {connector.name!r} has no API key. Give it one in its "
                f"Authorization tab (or PATCH /api/v1/connectors/{connector.id})."
            )
        auth = ApiKeyAuth(key)
    elif connector.auth_type == "oauth2":
        if not creds.get("access_token"):
            raise MissingCredentialsError(
                f"Connector {connector.name!r} is not authorized with PagerDuty yet: press "
                "'Sign in with PagerDuty' on its Authorization tab in the pdsearch service "
                f"(API: POST /api/v1/connectors/{connector.id}/oauth/authorize) and approve "
                "read access."
            )
        token = OAuthToken(
            access_token=creds["access_token"],
            refresh_token=creds.get("refresh_token") or None,
            expires_at=_parse_expiry(creds.get("expires_at")),
            scope=creds.get("scope") or "",
        )
        connector_id = connector.id

        def persist(new_token: OAuthToken) -> None:
            connectors.update_credentials(connector_id, **token_fields(new_token))
            log.info("stored a refreshed OAuth token for connector %s", connector_id)

        auth = OAuthAuth(
            creds.get("client_id", ""),
            creds.get("client_secret", ""),
            token,
            persist,
            oauth_base_url=connector.oauth_base_url,
            region=connector.region,
        )
    else:
        raise ConnectorError(
            f"Connector {connector.name!r} has an unknown authentication type "
            f"{connector.auth_type!r}; recreate it with an API key or OAuth."
        )
    return PagerDutyClient(
        auth, region=connector.region, base_url=connector.base_url, transport=transport, **options
    )


def status_after(exc: PagerDutyError, connector: Connector) -> str:
    """The connector status a failure calls for: an OAuth connector whose grant PagerDuty no
    longer honours must be authorized again; anything else is an error to fix."""
    if connector.auth_type == "oauth2" and isinstance(exc, OAuthError | AuthenticationError):
        return "needs_authorization"
    return "error"


def explain(exc: PagerDutyError, connector: Connector) -> str:
    """A message naming the cause of a failed connection and what to do about it.

    The client's messages already name the status, the request, the region or scope to check;
    this adds what the connector's own settings suggest.
    """
    message = str(exc)
    if isinstance(exc, AuthenticationError) and not connector.base_url:
        other = "eu" if connector.region == "us" else "us"
        return (
            f"{message} The connector's region is {connector.region}; if the account is in the "
            f"{other.upper()} service region, set the region to {other}."
        )
    if isinstance(exc, OAuthError):
        return f"{message} If it persists, authorize the connector with PagerDuty again."
    if isinstance(exc, TransportError):
        return (
            f"Could not reach PagerDuty: {message} Check the network, the region and the base URL."
        )
    return message


async def check_connection(
    connector: Connector,
    connectors: ConnectorRepository,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AccountInfo:
    """Check the connector's credentials against PagerDuty and record the outcome.

    On success the connector becomes ``connected`` with the account's subdomain; on failure it
    becomes ``error`` (or stays ``needs_authorization``) with a message naming the cause, and a
    ``ConnectorError`` carrying that message is raised.
    """
    try:
        client = client_for(
            connector, connectors, transport=transport, timeout=CHECK_TIMEOUT, retry=CHECK_RETRY
        )
        async with client:
            info = await client.account_info()
    except MissingCredentialsError as exc:
        status = "needs_authorization" if connector.auth_type == "oauth2" else "error"
        connectors.set_status(connector.id, status, error=str(exc))
        raise
    except PagerDutyError as exc:
        # Also a stored credential that cannot be sent (ConfigurationError from the auth):
        # the connector shows why, and no request was made.
        message = explain(exc, connector)
        connectors.set_status(connector.id, status_after(exc, connector), error=message)
        raise ConnectorError(message) from exc
    connectors.set_status(connector.id, "connected", subdomain=info.subdomain, error=None)
    return info


def _account_key(connector: Connector) -> tuple[str, str] | None:
    """The PagerDuty account a connector reads, as (subdomain, REST API root); None until a
    connection told the subdomain."""
    if not connector.subdomain:
        return None
    try:
        root = api_base_url(connector.region, connector.base_url)
    except PagerDutyError:
        root = connector.base_url or connector.region
    return connector.subdomain.lower(), root.rstrip("/").lower()


def same_account_warnings(connector: Connector, others: Iterable[Connector]) -> list[str]:
    """A sentence for each other connector that reads the same PagerDuty account.

    Allowed (a staging key beside a production one, an API key beside OAuth): each connector
    keeps documents and permission entities of its own, so nothing mixes. But a user then finds
    every policy and schedule twice, which is rarely what an admin meant.
    """
    key = _account_key(connector)
    if key is None:
        return []
    return [
        f"Connector {other.name!r} reads the same PagerDuty account ({key[0]} at {key[1]}). "
        "Both keep their own copy of its documents, so searches show each one twice; remove "
        "one of them unless that is what you want."
        for other in others
        if other.id != connector.id and _account_key(other) == key
    ]
