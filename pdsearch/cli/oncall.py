"""``pdsearch oncall QUERY --user EMAIL [--at WHEN] [--json]``: who is on call, for what that
user may see."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from pdsearch.cli.common import (
    CliError,
    DataDirOption,
    JsonOption,
    SemanticOption,
    data_home,
    no_connectors,
    open_index,
    open_store,
    print_json,
    reported_errors,
    semantic_on,
)


def parse_when(value: str) -> datetime:
    """``--at``: ISO 8601 (UTC when no zone is given), or ``now``."""
    if value.strip().lower() == "now":
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a time; give ISO 8601, e.g. 2026-12-09T09:00 (UTC) or "
            "2026-12-09T09:00+01:00"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def oncall_command(
    query: Annotated[str, typer.Argument(help="A team, service or question, e.g. "
                                         "'who is on call for payments'; '' for everything.")],
    user: Annotated[str, typer.Option("--user", help="Ask as this user (e-mail).")],
    at: Annotated[datetime | None, typer.Option(
        "--at", parser=parse_when, metavar="WHEN",
        help="When: ISO 8601 (UTC without a zone), default now.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100, help="Documents to answer for.")] = 10,
    semantic: SemanticOption = None,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Who is on call: level by level, for the policies and schedules a user may see."""
    from pdsearch.oncall import (
        OutsideWindowError,
        describe,
        local_time,
        viewer_zone,
        who_is_on_call,
    )

    with reported_errors(), open_store(data_dir) as store, open_index(data_dir) as index:
        if not store.connectors.list(limit=1)[1]:
            raise CliError(no_connectors(data_home(data_dir)))
        from pdsearch.search import load_embedder

        embedder = load_embedder(semantic_on(data_dir, semantic))
        try:
            found = who_is_on_call(index, store, user, query, at, limit=limit, embedder=embedder)
        except OutsideWindowError as exc:
            raise CliError(str(exc)) from None
        zone = viewer_zone(store, user)
    at_text = found.at.isoformat().replace("+00:00", "Z")
    if as_json:
        print_json({"at": at_text, "total": found.total, "data": [
            {"id": r.hit.id, "connector_id": r.hit.source, "type": r.hit.type,
             "title": r.hit.title, "url": r.hit.url, "oncall": r.oncall}
            for r in found.results
        ]})
        return
    if not found.results:
        typer.echo(f"Nothing matching {query!r} is visible to {user}.")
        return
    typer.echo(f"On call at {local_time(at_text, zone)} (times in {zone.key}), "
               f"{found.total} matching:")
    for r in found.results:
        typer.echo(f"\n{r.hit.title} ({r.hit.type.replace('_', ' ')})")
        for line in describe(r.hit.type, r.oncall, zone):
            typer.echo(f"  {line}")
