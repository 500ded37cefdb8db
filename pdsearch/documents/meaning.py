"""What a document says about its teams and services, and the text of it that carries meaning.

A team's description and each service's description say what a team or service is *for*
("processes card and bank payments"): the words people use when they don't know its name. They
go in the document's content (findable by keyword) and in its ``meaning``, the short text the
embedding model reads (``pdsearch.semantic.meaning_text``: title, teams and what they do,
services and what they do, description; no people, no rotations).
"""

from __future__ import annotations

from collections.abc import Sequence

from pdsearch.documents.context import AccountContext, dedupe
from pdsearch.documents.words import join
from pdsearch.pagerduty.models import Reference
from pdsearch.semantic import beyond_name, meaning_text


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())


def team_pairs(teams: Sequence[Reference], ctx: AccountContext) -> list[tuple[str, str]]:
    """Each team once, as (name, description), in the object's order."""
    out: list[tuple[str, str]] = []
    for team_id in dedupe(t.id for t in teams):
        team = ctx.teams.get(team_id)
        ref = next(t for t in teams if t.id == team_id)
        name = (team.name if team is not None and team.name else None) or ref.summary or team_id
        out.append((name, _clean(team.description if team is not None else None)))
    return out


def service_pairs(services: Sequence[Reference], ctx: AccountContext) -> list[tuple[str, str]]:
    """Each service once, as (name, description when the sync read one)."""
    out: list[tuple[str, str]] = []
    for service_id in dedupe(s.id for s in services):
        ref = next(s for s in services if s.id == service_id)
        out.append((ref.summary or service_id, _clean(ctx.service_descriptions.get(service_id))))
    return out


def teams_about_line(teams: Sequence[Reference], ctx: AccountContext) -> str | None:
    """"What the team does: ..." from the teams' descriptions (None when none has one)."""
    said = [(name, beyond_name(name, about)) for name, about in team_pairs(teams, ctx) if about]
    said = [(name, about) for name, about in said if about]
    if not said:
        return None
    if len(said) == 1:
        return f"What the team does: {said[0][1]}."
    return "What the teams do: " + "; ".join(f"{name}: {about}" for name, about in said) + "."


def services_words(services: Sequence[Reference], ctx: AccountContext) -> str:
    """"A (what A does), B" for a Services line."""
    parts = []
    for name, about in service_pairs(services, ctx):
        said = beyond_name(name, about) if about else ""
        parts.append(f"{name} ({said})" if said else name)
    return join(parts)


#: Services named in a meaning text: a schedule paged by many policies would otherwise list
#: dozens, and the model's time grows with the text (its 256 word pieces cut the rest anyway).
MEANING_SERVICES = 5


def meaning(title: str, teams: Sequence[Reference], services: Sequence[Reference],
            description: str | None, ctx: AccountContext) -> str:
    """The text of a policy or schedule that the embedding model reads: each service's
    description once (services of one purpose say it alike), at most ``MEANING_SERVICES``
    services."""
    said: set[str] = set()
    pairs: list[tuple[str, str]] = []
    for name, about in service_pairs(services, ctx)[:MEANING_SERVICES]:
        key = about.lower()
        pairs.append((name, "" if key in said else about))
        said.add(key)
    return meaning_text(title, team_pairs(teams, ctx), pairs, description)
