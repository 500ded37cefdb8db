"""The web pages: connectors (Authorization, Configuration, Permission entities, Documents
tabs) for administrators, and the search page for everyone.

Server-rendered with Jinja2 (autoescaping on), with small scripts in ``static/`` that call the
REST API (``/api/v1``, authenticated by the page's session cookie and CSRF token, see
``api_auth``) for every action (save, connect, sync,
schedule, entity members) and poll a running job.

Who is who:
- administrators sign in with the service's API token (``/signin``); see ``page_session``;
- the search page's user: see ``page_identity`` (a user header believed only from the SSO
  proxies named in ``settings.trusted_proxies``; else a signed-in session; ``pdsearch demo``
  offers a picker of sample users; a signed-in administrator may search as anyone).
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from pdsearch.search import search as run_search
from pdsearch.store import Connector, NotFoundError
from pdsearch.sync.connection import same_account_warnings
from pdsearch.web.api.common import redirect_uri
from pdsearch.web.api_docs import install_api_docs
from pdsearch.web.deps import Services, get_services, token_matches
from pdsearch.web.page_format import describe_schedule, filters
from pdsearch.web.page_identity import search_identity
from pdsearch.web.page_oncall import oncall_view
from pdsearch.web.page_session import (
    PageSession,
    PageSessions,
    clear_session_cookie,
    current_session,
    is_secure,
    sessions_of,
    set_session_cookie,
)

_HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(_HERE / "templates"))
templates.env.filters.update(filters())

SEARCH_PAGE_SIZE = 10
LIST_PAGE_SIZE = 50
HISTORY_SIZE = 20
SIGNIN_FAILURE_DELAY = 0.5

#: Sent with every page: scripts and styles only from this service, never framed.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

router = APIRouter(include_in_schema=False)


def install_pages(app: FastAPI) -> None:
    """Add the pages, their static files, the API reference and page sessions to the app."""
    services: Services = app.state.services
    app.state.page_sessions = PageSessions(services.settings, services.store.tickets)
    app.mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static")
    install_api_docs(app)
    app.include_router(router)


# --- rendering helpers --------------------------------------------------------------------


def _render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    session: PageSession | None = None,
) -> HTMLResponse:
    services = get_services(request)
    base = {
        "session": session,
        "csrf": session.csrf if session else "",
        "demo": bool(services.demo_users),
        "nav": context.pop("nav", ""),
    }
    response = templates.TemplateResponse(request, name, {**base, **context}, status_code=status)
    response.headers.update(_PAGE_HEADERS)
    return response


def _signin_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/signin?" + urlencode({"next": target}), status_code=303)


def _local_path(value: str | None) -> str:
    """Only a path on this service may follow sign-in (no open redirect to another site)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _not_found(request: Request, session: PageSession | None, message: str) -> HTMLResponse:
    return _render(
        request, "error.html", {"title": "Not found", "message": message}, status=404,
        session=session,
    )


def _connector(services: Services, connector_id: str) -> Connector | None:
    try:
        return services.store.connectors.get(connector_id)
    except NotFoundError:
        return None


def _pages(total: int, size: int, page: int) -> dict[str, int]:
    count = max(1, math.ceil(total / size))
    page = min(max(page, 1), count)
    return {"page": page, "count": count, "skip": (page - 1) * size, "size": size}


# --- sign-in --------------------------------------------------------------------------------


@router.get("/signin", response_class=HTMLResponse)
def signin_page(request: Request, next: str = "/") -> Response:
    services = get_services(request)
    if current_session(request) is not None:
        return RedirectResponse(_local_path(next), status_code=303)
    return _render(
        request,
        "signin.html",
        {
            "next": _local_path(next),
            "error": None,
            "configured": bool(services.settings.api_token),
            "nav": "signin",
        },
    )


@router.post("/signin", response_class=HTMLResponse)
async def signin(request: Request, token: str = Form(""), next: str = Form("/")) -> Response:
    services = get_services(request)
    target = _local_path(next)
    if not token_matches(services.settings, token.strip()):
        # Slows guessing down without holding a worker thread.
        await asyncio.sleep(SIGNIN_FAILURE_DELAY)
        error = (
            "The service has no API token configured, so no one can sign in. Set "
            "PDSEARCH_API_TOKEN and restart it."
            if not services.settings.api_token
            else "That is not the service's API token. Use the token it was started with: "
            "PDSEARCH_API_TOKEN, or the API token that pdsearch demo printed."
        )
        return _render(
            request,
            "signin.html",
            {
                "next": target,
                "error": error,
                "configured": bool(services.settings.api_token),
                "nav": "signin",
            },
            status=401,
        )
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(
        response, sessions_of(request).issue(), is_secure(services.settings, request)
    )
    return response


@router.post("/signout")
def signout(request: Request, csrf: str = Form("")) -> Response:
    services = get_services(request)
    session = current_session(request)
    if session is not None and PageSessions.csrf_ok(session, csrf):
        sessions_of(request).revoke(session)
    response = RedirectResponse("/signin", status_code=303)
    clear_session_cookie(response, is_secure(services.settings, request))
    return response


# --- connectors -----------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def connector_list(request: Request) -> Response:
    session = current_session(request)
    if session is None:
        return _signin_redirect(request)
    services = get_services(request)
    store = services.store
    connectors, total = store.connectors.list(limit=500)
    rows = []
    for c in connectors:
        jobs, _ = store.jobs.list(c.id, limit=1)
        rows.append(
            {
                "c": c,
                "job": jobs[0].to_dict() if jobs else None,
                "documents": services.index.count(c.id),
            }
        )
    return _render(
        request, "connectors.html", {"rows": rows, "total": total, "nav": "connectors"},
        session=session,
    )


@router.get("/connectors/new", response_class=HTMLResponse)
def connector_new(request: Request) -> Response:
    session = current_session(request)
    if session is None:
        return _signin_redirect(request)
    return _render(request, "connector_new.html", {"nav": "connectors"}, session=session)


def _connector_context(
    request: Request, tab: str
) -> tuple[PageSession | None, Connector | None, dict[str, Any], Response | None]:
    session = current_session(request)
    if session is None:
        return None, None, {}, _signin_redirect(request)
    services = get_services(request)
    connector_id = request.path_params["connector_id"]
    connector = _connector(services, connector_id)
    if connector is None:
        message = f"There is no connector with id {connector_id!r}. It may have been removed."
        return session, None, {}, _not_found(request, session, message)
    others, _ = services.store.connectors.list(limit=1000)
    warnings = same_account_warnings(connector, others)
    ctx = {"c": connector, "tab": tab, "nav": "connectors", "account_warnings": warnings}
    return session, connector, ctx, None


@router.get("/connectors/{connector_id}", response_class=HTMLResponse)
def connector_authorization(request: Request, connector_id: str, oauth: str = "") -> Response:
    session, connector, ctx, early = _connector_context(request, "authorization")
    if early is not None or connector is None:
        return early or Response(status_code=500)
    services = get_services(request)
    creds = services.store.connectors.get_credentials(connector_id)
    ctx.update(
        {
            # Which secrets are stored, never their values; the client id is not a secret.
            "has_api_key": bool(creds.get("api_key")),
            "has_client_secret": bool(creds.get("client_secret")),
            "has_token": bool(creds.get("access_token")),
            "client_id": creds.get("client_id", ""),
            "redirect_uri": redirect_uri(services.settings, request),
            "oauth_result": oauth if oauth in ("connected", "error") else "",
        }
    )
    return _render(request, "connector_auth.html", ctx, session=session)


def _history(services: Services, connector_id: str, page: int) -> dict[str, Any]:
    _, total = services.store.jobs.list(connector_id, limit=1)
    pages = _pages(total, HISTORY_SIZE, page)
    jobs, total = services.store.jobs.list(connector_id, skip=pages["skip"], limit=HISTORY_SIZE)
    return {"jobs": [j.to_dict() for j in jobs], "jobs_total": total, "history": pages}


@router.get("/connectors/{connector_id}/configuration", response_class=HTMLResponse)
def connector_configuration(request: Request, connector_id: str, page: int = 1) -> Response:
    session, connector, ctx, early = _connector_context(request, "configuration")
    if early is not None or connector is None:
        return early or Response(status_code=500)
    services = get_services(request)
    # The form edits the full-sync schedule; the incremental one is shown beside it.
    schedules = {s["mode"]: s for s in services.connectors.describe_schedules(connector_id)}
    schedule = schedules.get("full")
    incremental = schedules.get("incremental")
    running = services.store.jobs.running(connector_id)
    last, _ = services.store.jobs.list(connector_id, limit=1)
    ctx.update(_history(services, connector_id, page))
    ctx.update(
        {
            "schedule": schedule,
            "schedule_text": describe_schedule(schedule),
            "incremental": incremental,
            "incremental_text": describe_schedule(incremental),
            "running": running.to_dict() if running else None,
            "last_job": last[0].to_dict() if last else None,
            "documents": services.index.count(connector_id),
            "incremental_state": services.store.sync_state.get(connector_id).to_dict(),
        }
    )
    return _render(request, "connector_config.html", ctx, session=session)


@router.get("/connectors/{connector_id}/history", response_class=HTMLResponse)
def connector_history(request: Request, connector_id: str, page: int = 1) -> Response:
    """The history table's rows alone, for the Configuration tab's script to refresh."""
    session, connector, ctx, early = _connector_context(request, "configuration")
    if early is not None or connector is None:
        return early or Response(status_code=500)
    ctx.update(_history(get_services(request), connector_id, page))
    return _render(request, "history_rows.html", ctx, session=session)


@router.get("/connectors/{connector_id}/entities", response_class=HTMLResponse)
def connector_entities(request: Request, connector_id: str, page: int = 1) -> Response:
    session, connector, ctx, early = _connector_context(request, "entities")
    if early is not None or connector is None:
        return early or Response(status_code=500)
    store = get_services(request).store
    _, total = store.entities.list(connector_id, limit=1)
    pages = _pages(total, LIST_PAGE_SIZE, page)
    entities, total = store.entities.list(connector_id, skip=pages["skip"], limit=pages["size"])
    ctx.update({"entities": entities, "total": total, "pages": pages})
    return _render(request, "entities.html", ctx, session=session)


@router.get("/connectors/{connector_id}/entities/{entity_id}", response_class=HTMLResponse)
def connector_entity(request: Request, connector_id: str, entity_id: str) -> Response:
    session, connector, ctx, early = _connector_context(request, "entities")
    if early is not None or connector is None:
        return early or Response(status_code=500)
    record = get_services(request).store.entities.get(connector_id, entity_id)
    if record is None:
        return _not_found(
            request,
            session,
            f"Connector {connector.name!r} has no permission entity {entity_id!r}. Entities are "
            "the account's subdomain and its teams, known after a sync.",
        )
    ctx.update({"entity": record, "manual": set(record.manual_user_ids)})
    return _render(request, "entity.html", ctx, session=session)


@router.get("/connectors/{connector_id}/documents", response_class=HTMLResponse)
def connector_documents(request: Request, connector_id: str, page: int = 1) -> Response:
    session, connector, ctx, early = _connector_context(request, "documents")
    if early is not None or connector is None:
        return early or Response(status_code=500)
    services = get_services(request)
    total = services.index.count(connector_id)
    pages = _pages(total, LIST_PAGE_SIZE // 2, page)
    docs, total = services.index.list(connector_id, pages["skip"], pages["size"])
    entities, _ = services.store.entities.list(connector_id, limit=1000)
    names = {e.entity_id: e.name for e in entities}
    ctx.update({"docs": docs, "total": total, "pages": pages, "entity_names": names})
    return _render(request, "documents.html", ctx, session=session)


# --- search -----------------------------------------------------------------------------------


def _demo_labels(services: Services) -> list[dict[str, str]]:
    """Each sample user with what they may see, e.g. "admin" or "Payments (team)"."""
    store = services.store
    out = []
    for email in services.demo_users:
        names: list[str] = []
        admin = False
        for connector in store.connectors.list(limit=100)[0]:
            for entity_id in sorted(store.entities.for_user(email, connector.id)):
                record = store.entities.get(connector.id, entity_id)
                if record is None:
                    continue
                if record.type == "account":
                    admin = True
                else:
                    names.append(record.name)
        what = "admin: sees everything" if admin else ", ".join(names) or "no teams"
        out.append({"email": email, "label": f"{email} ({what})"})
    return out


@router.get("/search", response_class=HTMLResponse)
def search_page(
    request: Request, q: str = "", page: int = 1, user: str = ""
) -> Response:
    services = get_services(request)
    settings = services.settings
    session = current_session(request)
    demo_users = _demo_labels(services) if services.demo_users else []
    who = search_identity(
        settings,
        request,
        signed_in=session is not None,
        chosen=user,
        demo_users=[d["email"] for d in demo_users],
    )
    if who.how == "none" and not settings.trusted_proxies:
        # No single sign-on in front: searching needs a signed-in session.
        return _signin_redirect(request)
    identity, how = who.email, who.how
    q = q[:1000]
    results: dict[str, Any] | None = None
    if identity:
        page = max(1, min(page, 1000))
        found = run_search(
            services.index,
            services.store.entities,
            q,
            identity,
            SEARCH_PAGE_SIZE,
            (page - 1) * SEARCH_PAGE_SIZE,
            embedder=services.embedder,
        )
        pages = _pages(found.total, SEARCH_PAGE_SIZE, page)
        results = {"total": found.total, "hits": found.hits, "pages": pages,
                   "oncall": oncall_view(services.store, found.hits, identity, q),
                   "notice": found.notice}
    keep: dict[str, str] = {"q": q}
    if how in ("demo", "admin") and identity:
        keep["user"] = identity
    ctx = {
        "q": q,
        "identity": identity,
        "how": how,
        "results": results,
        "demo_users": demo_users,
        "user_header": settings.user_header,
        "header_ignored": who.header_ignored,
        "keep": keep,
        "nav": "search",
    }
    return _render(request, "search.html", ctx, session=session)
