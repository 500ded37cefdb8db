"""Permission entities derived from a PagerDuty account (DESIGN.md 2.2).

- the account entity, named by the subdomain, held by users whose PagerDuty role is ``owner``
  or ``admin``;
- one entity per team, named by the team id, held by the team's members.

Pure: the sync reads the account, this turns it into ``Entity`` values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from pdsearch.pagerduty.models import Team, TeamMember, User
from pdsearch.permissions import Entity, normalize_email

ACCOUNT_ROLES = frozenset({"owner", "admin"})


def derive_entities(
    subdomain: str,
    users: Iterable[User],
    teams: Iterable[Team],
    memberships: Mapping[str, Sequence[TeamMember]] | None = None,
) -> list[Entity]:
    """The account entity first, then one entity per team.

    A team's members come from ``memberships`` (team id → its member listing) when that holds
    the team, otherwise from the users listing read with ``include[]=teams``. Teams that appear
    only on users (the teams listing can be unavailable without the ``teams`` ability) still get
    an entity, named after the reference. Users without an e-mail cannot be named and are left
    out.
    """
    if not subdomain:
        raise ValueError("an account subdomain is needed for the account entity")
    user_list = list(users)
    emails = {u.id: normalize_email(u.email) for u in user_list if normalize_email(u.email)}
    admins = frozenset(
        emails[u.id] for u in user_list if u.id in emails and u.role.lower() in ACCOUNT_ROLES
    )
    entities = [Entity(subdomain, f"{subdomain} (account)", "account", admins)]

    names: dict[str, str] = {}
    for team in teams:
        names.setdefault(team.id, team.name or team.summary or team.id)
    from_users: dict[str, set[str]] = {}
    for user in user_list:
        for ref in user.teams:
            names.setdefault(ref.id, ref.summary or ref.id)
            if user.id in emails:
                from_users.setdefault(ref.id, set()).add(emails[user.id])
    listed = memberships or {}
    for team_id in listed:
        names.setdefault(team_id, team_id)

    for team_id, name in names.items():
        if team_id == subdomain:
            # An id colliding with the subdomain would merge two access lists; never widen.
            continue
        if team_id in listed:
            members = frozenset(
                emails[m.user.id] for m in listed[team_id] if m.user.id in emails
            )
        else:
            members = frozenset(from_users.get(team_id, ()))
        entities.append(Entity(team_id, name, "team", members))
    return entities

