"""The hardening tests' counts (tally.py) at the end of the run, for docs/RELIABILITY.md."""

from __future__ import annotations

import pytest
from tally import TALLIES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for made in TALLIES:
        if not made.sent:
            continue
        terminalreporter.write_sep("-", made.title)
        for line in made.lines():
            terminalreporter.write_line(line)
