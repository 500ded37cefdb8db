"""Helpers the API routers share: looking things up with a 404, shaping records for responses."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from pdsearch.config import Settings
from pdsearch.pagerduty import errors as pd_errors
from pdsearch.store import Connector, Job, NotFoundError, Store
from pdsearch.sync.connection import ConnectorError, MissingCredentialsError
from pdsearch.web.errors import ApiError, not_found
from pdsearch.web.schemas import ConnectorOut, IncrementalOut, JobOut

CALLBACK_PATH = "/oauth/callback"
API_PREFIX = "/api/v1"


def link_to(path: str, method: str, **parameters: str) -> dict[str, Any]:
    """An OpenAPI link to the operation ``method path`` (``path`` under /api/v1), its
    parameters filled from runtime expressions (``$response.body#/id``): clients and fuzzers
    follow them from what a call created to the calls that use it."""
    pointer = (API_PREFIX + path).replace("~", "~0").replace("/", "~1")
    return {"operationRef": f"#/paths/{pointer}/{method.lower()}", "parameters": parameters}


def redirect_uri(settings: Settings, request: Request) -> str:
    """The OAuth redirect URL: the configured public URL, else the URL this request came to."""
    base = settings.public_url or str(request.base_url)
    return base.rstrip("/") + CALLBACK_PATH


def find_connector(store: Store, connector_id: str) -> Connector:
    try:
        return store.connectors.get(connector_id)
    except NotFoundError:
        raise not_found("connector", connector_id) from None


def find_job(store: Store, job_id: str) -> Job:
    try:
        return store.jobs.get(job_id)
    except NotFoundError:
        raise not_found("job", job_id) from None


def connector_out(
    connector: Connector, settings: Settings, request: Request, store: Store | None = None
) -> ConnectorOut:
    out = ConnectorOut(**connector.to_dict())
    if store is not None:
        out.incremental = IncrementalOut(**store.sync_state.get(connector.id).to_dict())
    if connector.auth_type == "oauth2":
        out.oauth_redirect_uri = redirect_uri(settings, request)
    return out


def job_out(job: Job) -> JobOut:
    return JobOut(**job.to_dict())


def conflict(code: str, message: str) -> ApiError:
    return ApiError(409, code, message)


def connect_error(exc: ConnectorError, connector: Connector) -> ApiError:
    """Map the cause to a status and a stable code; the message (already fit for people) stays."""
    message = str(exc)
    if isinstance(exc, MissingCredentialsError):
        if connector.auth_type == "oauth2":
            return ApiError(409, "oauth_authorization_required", message)
        return ApiError(400, "missing_credentials", message)
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, pd_errors.ConfigurationError):
        return ApiError(400, "invalid_configuration", message)
    if isinstance(cause, pd_errors.AuthenticationError):
        return ApiError(400, "pagerduty_auth_failed", message)
    if isinstance(cause, pd_errors.ScopeError):
        return ApiError(400, "pagerduty_missing_scope", message)
    if isinstance(cause, pd_errors.AbilityError):
        return ApiError(400, "pagerduty_missing_ability", message)
    if isinstance(cause, pd_errors.OAuthError):
        return ApiError(400, "oauth_failed", message)
    if isinstance(cause, pd_errors.RateLimitError):
        return ApiError(503, "pagerduty_rate_limited", message)
    if isinstance(cause, pd_errors.TransportError):
        return ApiError(502, "pagerduty_unreachable", message)
    return ApiError(502, "pagerduty_error", message)
