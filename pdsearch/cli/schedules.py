"""`pdsearch schedule show|set|remove`: a connector's sync schedules, one per mode (full or
incremental). The CLI only stores them: the scheduler of a running service (its leader, on
whichever replica) fires them."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from pdsearch.cli.common import (
    ConnectorArg,
    DataDirOption,
    JsonOption,
    connector_service,
    find_connector,
    open_index,
    open_store,
    print_json,
    print_table,
    reported_errors,
)

schedule_app = typer.Typer(
    help="Show, set and remove a connector's sync schedules (full and incremental).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

ModeOption = Annotated[
    str,
    typer.Option(help="Which schedule: full (reads the whole account) or incremental (only "
                 "what changed)."),
]


def _mode(value: str) -> str:
    mode = value.strip().lower()
    if mode not in ("full", "incremental"):
        raise typer.BadParameter("must be full or incremental", param_hint="--mode")
    return mode


def _when(spec: dict[str, Any]) -> str:
    if spec.get("interval_minutes"):
        return f"every {spec['interval_minutes']} min"
    if spec.get("cron"):
        return f"cron '{spec['cron']}' ({spec.get('timezone') or 'UTC'})"
    return f"once at {spec.get('run_at')}"


@schedule_app.command("show")
def schedule_show(
    connector: ConnectorArg, data_dir: DataDirOption = None, as_json: JsonOption = False
) -> None:
    """Show the connector's schedules and when each fires next."""
    with reported_errors(), open_store(data_dir) as store, open_index(data_dir) as index:
        found = find_connector(store, connector, data_dir)
        schedules = connector_service(store, index).describe_schedules(found.id)
    if as_json:
        print_json({"data": schedules})
        return
    if not schedules:
        typer.echo(f"Connector {found.name!r} has no schedule: it syncs only when started.")
        return
    print_table(
        ["Mode", "When", "Next run (UTC)", "Last run (UTC)"],
        [[s["mode"], _when(s), s.get("next_run_at") or "-", s.get("last_run_at") or "-"]
         for s in schedules],
    )


@schedule_app.command("set")
def schedule_set(
    connector: ConnectorArg,
    every: Annotated[
        int | None, typer.Option("--every", help="Every so many minutes (1 .. 525600).")
    ] = None,
    cron: Annotated[
        str | None, typer.Option(help="A five-field crontab line, e.g. '0 3 * * *'.")
    ] = None,
    timezone: Annotated[
        str | None, typer.Option(help="With --cron: the IANA time zone it is read in (UTC).")
    ] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Once, at an ISO 8601 time with a zone, e.g. "
                     "2030-01-01T09:00:00Z."),
    ] = None,
    mode: ModeOption = "full",
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Set (replace) the connector's schedule of one mode: give one of --every, --cron, --at."""
    mode = _mode(mode)
    spec: dict[str, Any] = {
        k: v for k, v in
        {"interval_minutes": every, "cron": cron, "timezone": timezone, "run_at": at}.items()
        if v is not None
    }
    with reported_errors(), open_store(data_dir) as store, open_index(data_dir) as index:
        found = find_connector(store, connector, data_dir)
        described = connector_service(store, index).set_schedule(found.id, spec, mode)
    if as_json:
        print_json(described)
        return
    typer.echo(f"{mode.capitalize()} sync of {found.name!r}: {_when(described)}; next run "
               f"{described.get('next_run_at') or '-'}.")


@schedule_app.command("remove")
def schedule_remove(
    connector: ConnectorArg, mode: ModeOption = "full", data_dir: DataDirOption = None
) -> None:
    """Remove the connector's schedule of one mode."""
    mode = _mode(mode)
    with reported_errors(), open_store(data_dir) as store, open_index(data_dir) as index:
        found = find_connector(store, connector, data_dir)
        removed = connector_service(store, index).remove_schedule(found.id, mode)
    if not removed:
        typer.echo(f"Connector {found.name!r} had no {mode} schedule.")
        raise typer.Exit(1)
    typer.echo(f"Removed the {mode} schedule of {found.name!r}.")
