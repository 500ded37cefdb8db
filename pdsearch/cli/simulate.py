"""``pdsearch simulate``: the PagerDuty look-alike on loopback, for trying pdsearch and for tests.

The options map onto ``SimulatorConfig``; what is wrong with them exits 2 with one line on
stderr, and a port that can't be bound exits 1.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from pdsearch.simulator.account import Account


def bad(message: str) -> NoReturn:
    """Refuse the options: one line on stderr, exit 2."""
    typer.echo(f"pdsearch simulate: {message}", err=True)
    raise typer.Exit(2)


def _abilities(has: set[str], without: list[str] | None) -> set[str] | None:
    """The account's abilities less ``--without-ability`` (None: all of them, unchanged)."""
    if not without:
        return None
    unknown = sorted(set(without) - has)
    if unknown:
        bad(f"--without-ability: {', '.join(unknown)} is not an ability of the account "
            f"(it has: {', '.join(sorted(has))})")
    return has - set(without)


def _first_save(account: Account, save: Path) -> None:
    """Write the account to ``--save`` at start, so an unwritable path is refused before the
    simulator listens; a file that is not an account file is not overwritten."""
    from pdsearch.simulator.account import AccountError
    from pdsearch.simulator.account_file import is_account_file

    if save.is_file() and not is_account_file(save):
        bad(f"--save: {save} exists and is not an account file; it would be overwritten. "
            "Give a new path (or a file written by --save before).")
    try:
        account.save(save)
    except AccountError as exc:
        bad(f"--save: {exc}")


def simulate(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port; 0 picks a free one.")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the generated account.")] = 1,
    scale: Annotated[
        str, typer.Option(help="Account size preset: tiny, small, medium or large.")
    ] = "small",
    teams: Annotated[int | None, typer.Option(help="Number of teams (overrides --scale).")] = None,
    users: Annotated[int | None, typer.Option(help="Number of users (overrides --scale).")] = None,
    schedules: Annotated[
        int | None, typer.Option(help="Number of schedules (overrides --scale).")
    ] = None,
    policies: Annotated[
        int | None, typer.Option(help="Number of escalation policies (overrides --scale).")
    ] = None,
    subdomain: Annotated[str, typer.Option(help="The account's subdomain.")] = "acme",
    region: Annotated[str, typer.Option(help="Service region: us or eu.")] = "us",
    api_key: Annotated[
        str | None, typer.Option(help="API key to accept; one is made up when not given.")
    ] = None,
    oauth_client_id: Annotated[str | None, typer.Option(help="OAuth client id.")] = None,
    oauth_client_secret: Annotated[str | None, typer.Option(help="OAuth client secret.")] = None,
    oauth_user_id: Annotated[
        str | None, typer.Option(help="User whom /oauth/authorize approves as (default: owner).")
    ] = None,
    token_ttl: Annotated[int, typer.Option(help="OAuth access token lifetime, seconds.")] = 3600,
    rate_limit: Annotated[
        int, typer.Option(help="Requests per minute per token; 0 = no limit.")
    ] = 960,
    latency_ms: Annotated[int, typer.Option(help="Latency added to every API request.")] = 0,
    fault_rate: Annotated[
        float, typer.Option(help="Share of API requests answered with a fault, 0 to 1.")
    ] = 0.0,
    fault_kinds: Annotated[
        str | None,
        typer.Option(help="Comma-separated fault kinds (500,502,503,timeout,cut,malformed,429)."),
    ] = None,
    slow_seconds: Annotated[
        float, typer.Option(help="How long the 'timeout' fault keeps a client waiting.")
    ] = 120.0,
    audit_trail: Annotated[
        bool,
        typer.Option(
            "--audit-trail/--no-audit-trail",
            help="Whether the account has the Audit Trail feature (without: /audit/records 402).",
        ),
    ] = True,
    without_ability: Annotated[
        list[str] | None,
        typer.Option(help="Remove an account ability (teams: /teams answers 402). Repeatable."),
    ] = None,
    load: Annotated[
        Path | None, typer.Option(help="Serve this account file instead of generating one.")
    ] = None,
    save: Annotated[
        Path | None,
        typer.Option(help="Write the account here at start and again on exit (with API writes)."),
    ] = None,
) -> None:
    """Run a PagerDuty look-alike on loopback; prints one JSON line when ready, Ctrl-C stops it."""
    from pdsearch.simulator.account import AccountError
    from pdsearch.simulator.config import SimulatorConfig
    from pdsearch.simulator.server import SimulatorServer, build_account
    from pdsearch.stopping import on_stop_signals

    sizes = {"teams": teams, "users": users, "schedules": schedules, "policies": policies}
    overrides: dict[str, Any] = {k: v for k, v in sizes.items() if v is not None}
    if fault_kinds is not None:
        overrides["fault_kinds"] = tuple(k.strip() for k in fault_kinds.split(",") if k.strip())
    if region not in ("us", "eu"):
        bad("--region must be us or eu")
    if slow_seconds <= 0:
        bad("--slow-seconds must be a positive number of seconds")
    try:
        config = SimulatorConfig.for_scale(
            scale,
            host=host,
            port=port,
            seed=seed,
            subdomain=subdomain,
            region=region,
            api_key=api_key,
            oauth_client_id=oauth_client_id,
            oauth_client_secret=oauth_client_secret,
            oauth_user_id=oauth_user_id,
            token_ttl=token_ttl,
            rate_limit=rate_limit,
            latency_ms=latency_ms,
            fault_rate=fault_rate,
            audit_trail=audit_trail,
            load=load,
            save=save,
            **overrides,
        )
    except ValueError as exc:
        bad(f"--scale: {exc}")
    problems = config.validate()
    if problems:
        bad("; ".join(problems))
    try:
        account = build_account(config)
    except AccountError as exc:
        bad(str(exc))
    if oauth_user_id is not None and oauth_user_id not in account.users:
        bad(f"--oauth-user-id {oauth_user_id} is not a user of the account")
    abilities = _abilities(set(account.abilities), without_ability)
    if save is not None:
        _first_save(account, save)
    server = SimulatorServer(config, account, abilities=abilities, slow_seconds=slow_seconds)

    def save_account() -> None:
        if save is not None:
            try:
                account.save(save)
            except AccountError as exc:  # e.g. its folder was removed meanwhile
                typer.echo(f"pdsearch simulate: {exc}", err=True)
                raise typer.Exit(1) from None

    # Stopped by SIGTERM, or Ctrl-C unless this process was started with SIGINT ignored (a
    # background job keeps ignoring it). The handler only notes the signal, so one never lands
    # half-way through starting, stopping or saving.
    stopped: list[int] = []
    with on_stop_signals(stopped.append):
        try:
            server.start()
        except OSError as exc:
            typer.echo(
                f"pdsearch simulate: cannot listen on {host}:{port} ({exc.strerror or exc}); "
                "choose another --port or use --port 0.",
                err=True,
            )
            raise typer.Exit(1) from None
        try:
            typer.echo(json.dumps(server.ready_info()))
            sys.stdout.flush()
            while not stopped:
                time.sleep(0.1)
        finally:
            server.stop()
            save_account()
