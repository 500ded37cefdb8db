"""Service commands: ``serve`` (the REST API and scheduled syncs) and ``demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pdsearch.cli.common import (
    DataDirOption,
    SemanticOption,
    fail,
    parse_data_dir,
    reported_errors,
    settings_problem,
)

_SERVE_AUTH_HELP = (
    "Set PDSEARCH_API_TOKEN to a long random string (or api_token in the settings file), "
    "for example:\n"
    "  export PDSEARCH_API_TOKEN=\"$(python3 -c "
    "'import secrets; print(secrets.token_urlsafe(32))')\"\n"
    "Clients then send it as 'Authorization: Bearer <token>'."
)


def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to listen on [default: 127.0.0.1].")
    ] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="TCP port to listen on [default: 8000].")
    ] = None,
    data_dir: DataDirOption = None,
    log_level: Annotated[
        str | None,
        typer.Option(help="Log level: debug, info, warning or error [default: info]."),
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option(
            help="The service's external URL (behind a proxy), for the OAuth redirect URL; "
            "default PDSEARCH_PUBLIC_URL, else the URL each request came to."
        ),
    ] = None,
    semantic: SemanticOption = None,
) -> None:
    """Run the service: the REST API under /api/v1 (docs at /docs), MCP at /mcp, and syncs.

    Options left out come from PDSEARCH_* variables, then the settings file."""
    from pdsearch.config import Settings

    given = {"host": host, "port": port, "log_level": log_level, "public_url": public_url,
             "semantic": semantic}
    try:
        settings = Settings.load(data_dir, **{k: v for k, v in given.items() if v is not None})
    except ValueError as exc:
        fail(settings_problem(exc))
    token = settings.api_token.get_secret_value() if settings.api_token else ""
    if not token:
        fail(
            "No API token is configured, so the service will not start: every /api/v1 call "
            f"is authenticated with it.\n{_SERVE_AUTH_HELP}"
        )
    if len(token) < 16:
        typer.echo(
            "Warning: the API token is shorter than 16 characters; anyone who can reach the "
            "service could guess it. Use a long random token.",
            err=True,
        )
    if "*" in settings.trusted_proxies:
        typer.echo(
            f"Warning: PDSEARCH_TRUSTED_PROXIES=* believes the {settings.user_header} header "
            "(who searches) from any address. Do this only when nothing but the SSO proxy can "
            "reach the service; otherwise name the proxy's address.",
            err=True,
        )
    import logging

    import uvicorn

    from pdsearch.stopping import StoppableServer
    from pdsearch.web.app import AccessLogRedactor, create_app

    _check_listen_address(settings.host, settings.port)
    with reported_errors():
        service = create_app(settings)
    # proxy_headers off: uvicorn would otherwise replace the peer's address with one from
    # X-Forwarded-For, and the search page decides from the real peer whether a user header
    # comes from a trusted SSO proxy (PDSEARCH_TRUSTED_PROXIES).
    config = uvicorn.Config(
        service, host=settings.host, port=settings.port, log_level=settings.log_level,
        proxy_headers=False,
    )
    logging.getLogger("uvicorn.access").addFilter(AccessLogRedactor())
    where = f"http://{settings.host}:{settings.port}"
    typer.echo(f"pdsearch: API {where}/api/v1, docs {where}/docs, MCP {where}/mcp, data in "
               f"{settings.home}")
    # SIGTERM, or Ctrl-C unless started with SIGINT ignored, stops it gracefully: running syncs
    # are recorded as canceled, store and index closed, exit code 0.
    server = StoppableServer(config)
    try:
        server.run()
    except SystemExit as exc:
        if exc.code not in (0, None):  # uvicorn's 3: it could not start (the cause is logged)
            fail(f"The service could not listen on {settings.host}:{settings.port} (see above); "
                  "choose another --host or --port.")
        raise


def _check_listen_address(host: str, port: int) -> None:
    """A host that does not resolve is said plainly, before anything starts."""
    import socket

    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        fail(f"Cannot listen on {host!r}: it is not an address of this machine ({exc}). "
              "Use --host 127.0.0.1, or 0.0.0.0 for every interface.")


def demo(
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port of the service on 127.0.0.1; 0 picks one.")
    ] = 8000,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Keep the demo's data here (default: a temporary directory removed on exit).",
            parser=parse_data_dir,
        ),
    ] = None,
) -> None:
    """Try pdsearch: a simulated PagerDuty account, synced and searchable at once."""
    from pdsearch.demo import run_demo

    if data_dir is not None:
        try:  # a directory that can't be made is a message, not a traceback mid-start
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            fail(f"Cannot use {str(data_dir)!r} as the data directory: {exc.strerror or exc}.")

    code = run_demo(port=port, data_dir=data_dir, say=lambda text: typer.echo(text))
    raise typer.Exit(code)
