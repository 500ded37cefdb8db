"""``pdsearch entities``: a connector's permission entities, and members added by hand."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pdsearch.cli.common import (
    CliError,
    ConnectorArg,
    DataDirOption,
    JsonOption,
    find_connector,
    open_store,
    print_json,
    print_table,
    reported_errors,
)

if TYPE_CHECKING:
    from pdsearch.store import EntityRecord, Store

entities_app = typer.Typer(
    help="Permission entities: who may see what.", no_args_is_help=True,
    rich_markup_mode=None,
)
EntityArg = Annotated[
    str, typer.Argument(help="The entity: its id (the subdomain or a team id) or a team's name.")
]


def _entity_id(store: Store, connector_id: str, ref: str) -> str:
    """The id of the entity ``ref`` names: an entity id, or a team's name (case-insensitive).
    Anything else is passed on as given, for the store to judge (the subdomain before the
    first sync, or a message naming what is missing)."""
    ref = ref.strip()
    if store.entities.get(connector_id, ref) is not None:
        return ref
    records, _ = store.entities.list(connector_id, limit=100_000)
    folded = ref.casefold()
    for found in ([r for r in records if r.entity_id.casefold() == folded],
                  [r for r in records if r.name.casefold() == folded]):
        if len(found) == 1:
            return found[0].entity_id
        if len(found) > 1:
            raise CliError(
                f"{ref!r} names more than one entity: "
                + ", ".join(f"{r.name!r} ({r.entity_id})" for r in found)
                + ". Give the entity id."
            )
    return ref


def _entity_lines(record: EntityRecord) -> str:
    manual = set(record.manual_user_ids)
    lines = [f"{record.entity_id}  {record.type}  {record.name}",
             f"{len(record.user_ids)} members ({len(manual)} added by hand):"]
    lines += [f"  {e} (manual)" if e in manual else f"  {e}" for e in record.user_ids]
    return "\n".join(lines)


@entities_app.command("list")
def entities_list(
    name: ConnectorArg,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """List a connector's permission entities and how many members each has."""
    with reported_errors(), open_store(data_dir) as store:
        connector = find_connector(store, name, data_dir)
        records, total = store.entities.list(connector.id, limit=100_000)
    if as_json:
        print_json({"data": [r.to_dict() for r in records], "total": total})
        return
    if not records:
        typer.echo(f"No entities yet; run 'pdsearch sync {connector.name}' first.")
        return
    print_table(
        ("entity", "type", "name", "members", "added by hand"),
        ((r.entity_id, r.type, r.name, str(len(r.user_ids)), str(len(r.manual_user_ids)))
         for r in records),
    )


def _entity_command(
    name: str, entity: str, data_dir: Path | None, as_json: bool,
    change: Callable[[Store, str, str], EntityRecord | None],
) -> None:
    with reported_errors(), open_store(data_dir) as store:
        connector = find_connector(store, name, data_dir)
        record = change(store, connector.id, _entity_id(store, connector.id, entity))
        if record is None:
            raise CliError(
                f"No entity {entity!r} in connector {connector.name!r}. 'pdsearch entities list "
                f"{connector.name}' shows them."
            )
    if as_json:
        print_json(record.to_dict())
    else:
        typer.echo(_entity_lines(record))


@entities_app.command("show")
def entities_show(
    name: ConnectorArg,
    entity: EntityArg,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one entity with its members (derived and added by hand)."""
    _entity_command(name, entity, data_dir, as_json,
                    lambda store, cid, eid: store.entities.get(cid, eid))


@entities_app.command("add-users")
def entities_add_users(
    name: ConnectorArg,
    entity: EntityArg,
    emails: Annotated[list[str], typer.Argument(help="E-mail addresses to add.")],
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add users by hand; they keep access through later syncs until removed."""
    _entity_command(name, entity, data_dir, as_json,
                    lambda store, cid, eid: store.entities.add_manual_members(cid, eid, emails))


@entities_app.command("remove-users")
def entities_remove_users(
    name: ConnectorArg,
    entity: EntityArg,
    emails: Annotated[list[str], typer.Argument(help="E-mail addresses to remove.")],
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Remove users added by hand (members PagerDuty derives stay while PagerDuty says so)."""
    _entity_command(name, entity, data_dir, as_json,
                    lambda store, cid, eid: store.entities.remove_manual_members(cid, eid, emails))
