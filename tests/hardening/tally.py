"""Counts the hostile-input tests keep for docs/RELIABILITY.md's table (how many requests or
invocations each route or command got, and what they were answered), shown in pytest's terminal
summary at the end of a run (the hook is in conftest.py here) rather than by a test of its own."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Tally:
    """What was sent to each target, and the outcomes (status or exit code) it got."""

    title: str
    outcome: str  # what an outcome is, for the summary line: "statuses", "exit codes"
    sent: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[int] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    def count(self, target: str, outcome: int) -> None:
        self.sent[target] += 1
        self.outcomes[outcome] += 1

    def lines(self) -> list[str]:
        out = [f"{count:6d}  {target}" for target, count in sorted(self.sent.items())]
        out.append(
            f"{sum(self.sent.values()):6d}  in all, to {len(self.sent)} targets; "
            f"{self.outcome} {dict(sorted(self.outcomes.items()))}"
        )
        return out + self.notes


#: Every tally made, in the order made; the summary shows those that counted something.
TALLIES: list[Tally] = []


def tally(title: str, outcome: str) -> Tally:
    made = Tally(title, outcome)
    TALLIES.append(made)
    return made
