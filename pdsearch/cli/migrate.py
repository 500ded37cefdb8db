"""``pdsearch migrate``: move the data directory's state into PostgreSQL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from pdsearch.cli.common import (
    DataDirOption,
    JsonOption,
    fail,
    print_json,
    reported_errors,
    settings_problem,
)

if TYPE_CHECKING:
    from pdsearch.store import Store

INDEX_NOTE = (
    "The search index is not part of the state and was not copied: point the service at its "
    "index (PDSEARCH_INDEX_URL, or the data directory's index.db) and run `pdsearch sync "
    "<connector>` for each connector (or let their schedules run) to fill it."
)


def migrate(
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            envvar="PDSEARCH_DATABASE_URL",
            show_default=False,
            help="The database to copy into, postgresql://user:password@host:port/db; default "
            "PDSEARCH_DATABASE_URL (better: the password then stays out of shell history).",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace what the target already holds."),
    ] = False,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Copy this installation's state (connectors with their credentials, schedules, permission
    entities with their manual members, job history) from the data directory's SQLite file
    into PostgreSQL. Stop `pdsearch serve` first. The search index is rebuilt by a sync."""
    from pdsearch.config import Settings
    from pdsearch.store.transfer import migrate_state

    try:
        settings = Settings.load(data_dir)
    except ValueError as exc:
        fail(settings_problem(exc))
    if not to or not to.strip():
        fail("Name the target database: --to postgresql://user:password@host:port/db, or set "
             "PDSEARCH_DATABASE_URL.")
    with reported_errors():
        report, target = migrate_state(settings, to.strip(), replace=force, busy=_busy)
    if as_json:
        print_json({**report.to_dict(), "target": target, "note": INDEX_NOTE})
        return
    keys = ("re-encrypted with the target's key" if report.reencrypted
            else "copied encrypted, as they were")
    typer.echo(
        f"Copied {report.connectors} connector(s) (credentials {keys}), {report.schedules} "
        f"schedule(s), {report.entities} permission entit(ies) with {report.members} "
        f"member(s) and {report.jobs} job(s) into {target}"
        + (", replacing what it held." if report.replaced else ".")
    )
    if report.interrupted_jobs:
        typer.echo(f"{report.interrupted_jobs} job(s) left queued or running arrived failed.")
    typer.echo(INDEX_NOTE)
    typer.echo("Then set PDSEARCH_DATABASE_URL for `pdsearch serve` and every other command.")


def _busy(source: Store) -> str | None:
    """A sync another process is running right now: copying now would miss what it writes."""
    from pdsearch.sync.service import live_job

    connectors, _ = source.connectors.list(limit=100_000)
    for connector in connectors:
        job = live_job(source, connector.id)
        if job is not None:
            return (
                f"A sync of connector {connector.name!r} is running (job {job.id}). Stop "
                "`pdsearch serve` and any `pdsearch sync`, then migrate."
            )
    return None

