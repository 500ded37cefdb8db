"""The PagerDuty REST API v2 client: auth, regions, paging, rate limits, retries, typed models.

It knows nothing of documents, the index, settings files or the web app. The names below are the
public API; see ``docs/INTERNALS.md``.
"""

from pdsearch.pagerduty.auth import ApiKeyAuth, Auth
from pdsearch.pagerduty.client import AccountInfo, PagerDutyClient
from pdsearch.pagerduty.errors import (
    AbilityError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    InvalidResponseError,
    NotFoundError,
    OAuthError,
    PagerDutyError,
    PagingLimitError,
    RateLimitError,
    ScopeError,
    ServerError,
    TransportError,
)
from pdsearch.pagerduty.oauth import (
    DEFAULT_SCOPES,
    OPTIONAL_SCOPES,
    REQUIRED_SCOPES,
    AppTokenAuth,
    AuthorizationRequest,
    OAuthAuth,
    OAuthToken,
    authorization_request,
    exchange_code,
)
from pdsearch.pagerduty.ratelimit import RateLimiter
from pdsearch.pagerduty.timing import Clock, RetryPolicy, SystemClock

__all__ = [
    "DEFAULT_SCOPES",
    "OPTIONAL_SCOPES",
    "REQUIRED_SCOPES",
    "AbilityError",
    "AccountInfo",
    "ApiKeyAuth",
    "AppTokenAuth",
    "Auth",
    "AuthenticationError",
    "AuthorizationRequest",
    "BadRequestError",
    "Clock",
    "ConfigurationError",
    "InvalidResponseError",
    "NotFoundError",
    "OAuthAuth",
    "OAuthError",
    "OAuthToken",
    "PagerDutyClient",
    "PagerDutyError",
    "PagingLimitError",
    "RateLimitError",
    "RateLimiter",
    "RetryPolicy",
    "ScopeError",
    "ServerError",
    "SystemClock",
    "TransportError",
    "authorization_request",
    "exchange_code",
]
