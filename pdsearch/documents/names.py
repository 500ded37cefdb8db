"""Ids as the names a person knows them by: users, teams and the object's own title."""

from __future__ import annotations

from collections.abc import Sequence

from pdsearch.documents.context import AccountContext
from pdsearch.documents.words import join
from pdsearch.pagerduty.models import Reference


def user_words(
    user_id: str, ctx: AccountContext, ref: Reference | None, *, email: bool = True
) -> str:
    """'Name' <e-mail>, or just 'Name' where the e-mail was already given in the document."""
    user = ctx.users.get(user_id)
    name = (user.name if user else None) or (ref.summary if ref else None) or (
        user.email if user else None) or user_id
    if email and user is not None and user.email and name != user.email:
        return f"'{name}' <{user.email}>"
    return f"'{name}'"


def team_names(
    teams: Sequence[Reference], ctx: AccountContext, *, mark_private: bool = True
) -> list[str]:
    """Each team once, in the object's order, by the account's name for it when known."""
    first: dict[str, Reference] = {}
    for ref in teams:
        first.setdefault(ref.id, ref)
    names = []
    for team_id, ref in first.items():
        team = ctx.teams.get(team_id)
        if team is not None and team.name:
            private = team.private and mark_private
            names.append(f"{team.name} (private team)" if private else team.name)
        else:
            names.append(ref.summary or ref.id)
    return names


def team_line(teams: Sequence[Reference], ctx: AccountContext) -> str:
    names = team_names(teams, ctx)
    if not names:
        return "Teams: none (account-wide)."
    return f"{'Team' if len(names) == 1 else 'Teams'}: {join(names)}."


def title(name: str, summary: str | None, object_id: str) -> str:
    """The object's name, else its summary, else its id: a document's title is never blank."""
    return (name or "").strip() or (summary or "").strip() or object_id


def id_line(object_id: str) -> str:
    """The object's PagerDuty id, so a search for the id finds it (people paste ids from URLs
    and alerts)."""
    return f"PagerDuty ID: {object_id}."
