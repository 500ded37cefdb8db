"""Permission entities derived from users, teams and memberships (DESIGN.md 2.2)."""

from __future__ import annotations

from mapdata import example_teams, example_users, ref, team, user

from pdsearch.documents import derive_entities
from pdsearch.pagerduty.models import Reference, TeamMember, User
from pdsearch.permissions import Entity, normalize_email


def by_id(entities: list[Entity]) -> dict[str, Entity]:
    return {e.entity_id: e for e in entities}


def people() -> list[User]:
    return [
        user("UOWN", "Olive Owner", "  Olive@Acme.COM ", "owner", ["TPAY"]),
        user("UADM", "Adam Admin", "adam@acme.com", "admin"),
        user("UMGR", "Mia Manager", "mia@acme.com", "user", ["TPAY", "TDB"]),
        user("UOBS", "Otto Observer", "otto@acme.com", "observer", ["TDB"]),
        user("UNOMAIL", "No Mail", "", "admin", ["TDB"]),
    ]


def test_normalize_email() -> None:
    assert normalize_email("  Ada.Lovelace@Example.COM\n") == "ada.lovelace@example.com"
    assert normalize_email("") == ""


def test_account_entity_holds_owners_and_admins() -> None:
    entities = derive_entities("acme", people(), [team("TPAY", "Payments"), team("TDB", "DB")])
    account = entities[0]
    assert account == Entity("acme", "acme (account)", "account",
                             frozenset({"olive@acme.com", "adam@acme.com"}))


def test_team_entities_from_users_teams() -> None:
    teams = [team("TPAY", "Payments"), team("TDB", "DB"), team("TEMPTY", "Idle")]
    listed = derive_entities("acme", people(), teams)
    assert [e.entity_id for e in listed] == ["acme", "TPAY", "TDB", "TEMPTY"]
    entities = by_id(listed)
    assert entities["TPAY"] == Entity("TPAY", "Payments", "team",
                                      frozenset({"olive@acme.com", "mia@acme.com"}))
    # A user in several teams is in each; a user without e-mail in none.
    assert entities["TDB"].members == frozenset({"mia@acme.com", "otto@acme.com"})
    assert entities["TEMPTY"].members == frozenset()
    assert entities["TEMPTY"].type == "team"


def test_membership_listing_wins_over_users_teams() -> None:
    memberships = {
        "TPAY": [TeamMember(user=ref_model("UOBS"), role="responder"),
                 TeamMember(user=ref_model("UGHOST"), role="manager")],
    }
    entities = by_id(derive_entities("acme", people(), [team("TPAY", "Payments"),
                                                        team("TDB", "DB")], memberships))
    # The listing says who is in TPAY now (users' teams are stale); unknown users are skipped.
    assert entities["TPAY"].members == frozenset({"otto@acme.com"})
    # A team missing from the listings falls back to the users' teams.
    assert entities["TDB"].members == frozenset({"mia@acme.com", "otto@acme.com"})


def test_teams_known_only_from_users_still_get_an_entity() -> None:
    users = [User.model_validate({"id": "U1", "email": "a@x.io",
                                  "teams": [{"id": "THIDDEN", "summary": "Hidden Team"}]})]
    entities = by_id(derive_entities("acme", users, []))
    assert entities["THIDDEN"] == Entity("THIDDEN", "Hidden Team", "team", frozenset({"a@x.io"}))


def test_spec_examples() -> None:
    entities = by_id(derive_entities("acme", example_users(), example_teams()))
    admins = {"125.greenholt.earline@graham.name", "126_dvm_kyler_kuhn@beahan.name"}
    assert entities["acme"].members == admins
    assert entities["PQ9K7I8"].name == "Engineering"
    assert entities["PQ9K7I8"].members == admins


def test_members_are_normalized_so_any_case_finds_them() -> None:
    entities = derive_entities("acme", people(), [team("TPAY", "Payments"), team("TDB", "DB")])

    def held(email: str) -> list[str]:
        who = normalize_email(email)
        return [e.entity_id for e in entities if who and who in e.members]

    assert held("OLIVE@acme.com ") == ["acme", "TPAY"]
    assert held("mia@ACME.com") == ["TPAY", "TDB"]
    assert held("stranger@acme.com") == []
    assert held("") == []


def test_team_id_equal_to_subdomain_never_merges_access() -> None:
    entities = derive_entities("acme", people(), [team("acme", "Confusing")])
    assert [e.entity_id for e in entities] == ["acme", "TPAY", "TDB"]
    assert entities[0].type == "account"
    assert "mia@acme.com" not in entities[0].members


def ref_model(user_id: str) -> Reference:
    return Reference.model_validate(ref("user", user_id))
