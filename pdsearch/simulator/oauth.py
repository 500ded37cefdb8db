"""``/oauth/authorize`` and ``/oauth/token`` as PagerDuty's identity service answers (FACTS §5).

- authorize: approves at once as the configured user (no login page), then redirects to
  ``redirect_uri`` with ``code`` and ``state``. PKCE with S256 is required. The code is single-use
  and lives 30 seconds.
- token (form-encoded): ``authorization_code`` (client secret, the same ``redirect_uri``, the PKCE
  verifier), ``refresh_token`` (rotation: the old refresh token stops working) and
  ``client_credentials`` with ``as_account-<region>.<subdomain>`` (an account-level app token, no
  refresh token). Access tokens expire after ``token_ttl`` seconds.

The ``id_token`` is an unsigned JWT (``alg: none``) carrying PagerDuty's claims; it is for tests
only, unlike PagerDuty's RS256-signed one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from pdsearch.simulator.auth import AuthCode, grant_scopes
from pdsearch.simulator.state import Simulator

CODE_TTL_SECONDS = 30.0
REGION_NAMES = {"us": "UnitedStates", "eu": "EuropeanUnion"}


def _sim(request: Request) -> Simulator:
    sim: Simulator = request.app.state.simulator
    return sim


def _oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _redirect(redirect_uri: str, params: dict[str, str]) -> RedirectResponse:
    separator = "&" if urlsplit(redirect_uri).query else "?"
    return RedirectResponse(redirect_uri + separator + urlencode(params), status_code=302)


async def authorize(request: Request) -> Response:
    sim = _sim(request)
    config = sim.config
    q = request.query_params
    if config.oauth_client_id is None:
        return _oauth_error(
            "unauthorized_client",
            "OAuth is not configured on this simulator; start it with --oauth-client-id and "
            "--oauth-client-secret.",
        )
    if q.get("client_id") != config.oauth_client_id:
        return _oauth_error("invalid_client", "Unknown client_id.")
    redirect_uri = q.get("redirect_uri", "")
    if urlsplit(redirect_uri).scheme not in ("http", "https"):
        # Never redirect to an address that cannot be checked; answer here instead.
        return _oauth_error("invalid_request", "redirect_uri must be an http(s) URL.")
    state = q.get("state")

    def fail(error: str, description: str) -> Response:
        params = {"error": error, "error_description": description}
        if state is not None:
            params["state"] = state
        return _redirect(redirect_uri, params)

    if q.get("response_type") != "code":
        return fail("unsupported_response_type", "response_type must be code.")
    challenge = q.get("code_challenge", "")
    if not challenge or q.get("code_challenge_method") != "S256":
        return fail("invalid_request", "PKCE is required: send code_challenge with method S256.")
    user_id = config.oauth_user_id or sim.account.owner_id
    code = secrets.token_urlsafe(24)
    sim.tokens.codes[code] = AuthCode(
        client_id=config.oauth_client_id,
        redirect_uri=redirect_uri,
        user_id=user_id,
        scopes=grant_scopes(q.get("scope", "")),
        code_challenge=challenge,
        expires_at=sim.clock() + CODE_TTL_SECONDS,
    )
    params = {"code": code}
    if state is not None:
        params["state"] = state
    return _redirect(redirect_uri, params)


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:]).decode()
        except (ValueError, UnicodeDecodeError):
            return "", ""
        client_id, _, secret = decoded.partition(":")
        return client_id, secret
    return form.get("client_id", ""), form.get("client_secret", "")


def _id_token(sim: Simulator, client_id: str, user_id: str | None) -> str:
    region = sim.config.region
    claims: dict[str, Any] = {
        "iss": "https://identity.pagerduty.com/global/oauth/anonymous",
        "aud": [client_id, f"https://api{'.eu' if region == 'eu' else ''}.pagerduty.com"],
        "subdomain": sim.config.subdomain,
        "region": REGION_NAMES[region],
        "account_id": "P" + sim.config.subdomain.upper()[:6],
        "iat": int(sim.clock()),
        "exp": int(sim.clock() + sim.config.token_ttl),
    }
    if user_id is not None:
        claims["user_id"] = user_id
        claims["sub"] = user_id
    header = _b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64url(json.dumps(claims).encode())}."


async def token(request: Request) -> Response:
    sim = _sim(request)
    config = sim.config
    raw_form = await request.form()
    form = {k: v for k, v in raw_form.items() if isinstance(v, str)}
    client_id, client_secret = _client_credentials(request, form)
    if (
        config.oauth_client_id is None
        or config.oauth_client_secret is None
        or client_id != config.oauth_client_id
        or not hmac.compare_digest(client_secret.encode(), config.oauth_client_secret.encode())
    ):
        return _oauth_error("invalid_client", "Client authentication failed.", status=401)
    grant = form.get("grant_type")
    ttl = float(config.token_ttl)
    if grant == "authorization_code":
        code = sim.tokens.codes.pop(form.get("code", ""), None)  # single use, even on failure
        if code is None or sim.clock() >= code.expires_at:
            return _oauth_error("invalid_grant", "The authorization code is invalid or expired.")
        if code.client_id != client_id or form.get("redirect_uri") != code.redirect_uri:
            return _oauth_error("invalid_grant", "redirect_uri does not match the authorization.")
        verifier = form.get("code_verifier", "")
        expected = _b64url(hashlib.sha256(verifier.encode()).digest())
        if not verifier or not hmac.compare_digest(expected, code.code_challenge):
            return _oauth_error("invalid_grant", "The PKCE code_verifier does not match.")
        user_id: str | None = code.user_id
        scopes = code.scopes
        refresh: str | None = sim.tokens.issue_refresh_token(client_id, code.user_id, scopes)
    elif grant == "refresh_token":
        old = sim.tokens.refresh_tokens.get(form.get("refresh_token", ""))
        if old is None or old.client_id != client_id:
            return _oauth_error("invalid_grant", "The refresh token is invalid or was rotated.")
        del sim.tokens.refresh_tokens[form["refresh_token"]]
        user_id, scopes = old.user_id, old.scopes
        refresh = sim.tokens.issue_refresh_token(client_id, old.user_id, scopes)
    elif grant == "client_credentials":
        wanted = f"as_account-{config.region}.{config.subdomain}"
        requested = form.get("scope", "").split()
        account_scopes = [s for s in requested if s.startswith("as_account-")]
        if account_scopes != [wanted]:
            return _oauth_error(
                "invalid_scope",
                f"client_credentials needs the scope {wanted} naming this account and region.",
            )
        user_id = None
        scopes = grant_scopes(" ".join(s for s in requested if s != wanted))
        refresh = None
    else:
        return _oauth_error(
            "unsupported_grant_type",
            "grant_type must be authorization_code, refresh_token or client_credentials.",
        )
    access = sim.tokens.issue_access_token(client_id, user_id, scopes, ttl)
    scope_text = " ".join(sorted(scopes))
    if user_id is None:
        scope_text = f"as_account-{config.region}.{config.subdomain} {scope_text}"
    body: dict[str, Any] = {
        "access_token": access,
        "token_type": "bearer",
        "scope": scope_text,
        "expires_in": config.token_ttl,
        "id_token": _id_token(sim, client_id, user_id),
    }
    if refresh is not None:
        body["refresh_token"] = refresh
    return JSONResponse(body, headers={"cache-control": "no-store"})
