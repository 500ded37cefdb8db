"""Generated accounts render interestingly: restrictions, stacked layers, gaps and overrides."""

from __future__ import annotations

from datetime import UTC, datetime

from pdsearch.simulator.account import Account
from pdsearch.simulator.schedule_render import ScheduleTimeline

WEEK = 7 * 86400


def test_generated_schedules_have_gaps_layers_and_overrides() -> None:
    account = Account.generate(3, teams=12, users=80, schedules=40, policies=30)
    again = Account.generate(3, teams=12, users=80, schedules=40, policies=30)
    assert [(o.id, o.start, o.end, o.user_id) for o in account.overrides] == [
        (o.id, o.start, o.end, o.user_id) for o in again.overrides
    ]
    since = int(datetime(2026, 3, 2, tzinfo=UTC).timestamp())
    layered = {i: s for i, s in account.schedules.items() if s["type"] == "schedule"}
    with_overrides = [i for i in layered if account.overrides.of(i)]
    assert 3 <= len(with_overrides) < len(layered)
    gaps = stacked = overridden = 0
    for schedule_id, schedule in layered.items():
        rendered = ScheduleTimeline(schedule, account.overrides.spans(schedule_id)).render(
            since, since + 8 * WEEK
        )
        covered = sum(s.end - s.start for s in rendered.final)
        gaps += covered < 8 * WEEK
        stacked += sum(bool(pieces) for pieces in rendered.layers) > 1
        overridden += bool(rendered.overrides)
    assert gaps >= 3
    assert stacked >= 5
    assert overridden >= 2
    assert any(la["restrictions"] for s in layered.values() for la in s["schedule_layers"])
