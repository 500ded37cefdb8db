"""Overrides for a generated account, so seeded schedules render with some on them.

Drawn from their own ``random.Random`` (seeded from the account's seed), after everything else
is generated, so adding them changed none of the ids or objects an existing seed produces. Every
fifth layer-based schedule, about, gets one override every four weeks from the generator's epoch
(2025-01-06) to the end of 2027, each a few hours to two days long and given to one of the
schedule's own users (now and then a second, later one on top of it): enough that any two-week
window in those years meets some.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

from pdsearch.simulator.objects import Objects
from pdsearch.simulator.timeline import DAY, WEEK

EPOCH = int(datetime(2025, 1, 6, tzinfo=UTC).timestamp())
UNTIL = int(datetime(2028, 1, 1, tzinfo=UTC).timestamp())
SHARE = 0.2
EVERY = 4 * WEEK


def generate_overrides(objects: Objects, seed: int) -> None:
    """Add the seed's overrides to ``objects.overrides`` (after its schedules are generated)."""
    rng = random.Random(f"pdsim-overrides-{seed}")
    for schedule_id in sorted(objects.schedules):
        schedule = objects.schedules[schedule_id]
        if schedule.get("type") == "schedule_v3" or rng.random() >= SHARE:
            continue
        users = sorted(
            {u["user"]["id"] for layer in schedule["schedule_layers"] for u in layer["users"]}
        )
        if not users:
            continue
        first = EPOCH + rng.randrange(0, EVERY // 3600) * 3600
        start = first
        while start < UNTIL:
            length = rng.choice((4, 8, 12, 24, 48)) * 3600
            objects.overrides.add(schedule_id, start, start + length, rng.choice(users))
            if rng.random() < 0.25:  # now and then a second one on top, created later: it wins
                inner = start + rng.randrange(0, length // 3600) * 3600
                objects.overrides.add(schedule_id, inner, inner + 2 * 3600, rng.choice(users))
            start += EVERY + rng.randrange(-2, 3) * DAY
