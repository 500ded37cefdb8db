"""Where PagerDuty lives: the REST API and OAuth hosts per service region, or explicit URLs.

An explicit URL must be ``https://``, except on a loopback host (the simulator, a local proxy),
where plain ``http://`` is allowed. Anything else is a ``ConfigurationError`` raised before a
single request, because a credential sent in clear text over a network is already leaked.
"""

from __future__ import annotations

import ipaddress
from typing import Literal
from urllib.parse import urlsplit

import httpx

from pdsearch.pagerduty.errors import ConfigurationError

Region = Literal["us", "eu"]

API_BASE_URLS: dict[str, str] = {
    "us": "https://api.pagerduty.com",
    "eu": "https://api.eu.pagerduty.com",
}
# PagerDuty documents one identity service for both regions; the region goes in the scope.
OAUTH_BASE_URLS: dict[str, str] = {
    "us": "https://identity.pagerduty.com",
    "eu": "https://identity.pagerduty.com",
}


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_region(region: str) -> Region:
    if region == "us":
        return "us"
    if region == "eu":
        return "eu"
    raise ConfigurationError(
        f"Unknown PagerDuty service region {region!r}. Use 'us' or 'eu', or give an explicit "
        "base URL."
    )


def normalize_url(url: str, what: str) -> str:
    """``url`` without a trailing slash, checked: https, or http on a loopback host only."""
    # Spaces, control characters (NUL, escapes) or a host httpx cannot encode would pass the
    # checks below and only fail inside a request, as an httpx error rather than ours.
    if any(c.isspace() or not c.isprintable() for c in url.strip()):
        raise ConfigurationError(
            f"The {what} {url!r} contains spaces or control characters. Give a plain URL such "
            "as 'https://api.pagerduty.com'."
        )
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port out of range
        httpx.URL(url.strip())
    except (ValueError, httpx.InvalidURL):
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"The {what} {url!r} is not a usable URL. Give a full URL such as "
            "'https://api.pagerduty.com'."
        )
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ConfigurationError(
            f"The {what} {url!r} uses plain http:// on a host that is not loopback, which would "
            "send the credential unencrypted. Use https://, or http:// only with localhost or "
            "127.0.0.1."
        )
    if parts.query or parts.fragment:
        raise ConfigurationError(
            f"The {what} {url!r} must not carry a query or fragment; give just scheme, host "
            "and optional path."
        )
    return url.strip().rstrip("/")


def api_base_url(region: str = "us", base_url: str | None = None) -> str:
    """The REST API root for ``region``, or ``base_url`` when given (checked)."""
    if base_url:
        return normalize_url(base_url, "PagerDuty base URL")
    return API_BASE_URLS[check_region(region)]


def oauth_base_url(region: str = "us", base_url: str | None = None) -> str:
    """The OAuth (identity) root for ``region``, or ``base_url`` when given (checked)."""
    if base_url:
        return normalize_url(base_url, "PagerDuty OAuth URL")
    return OAUTH_BASE_URLS[check_region(region)]
