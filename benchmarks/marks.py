"""How the benchmark reports write a verdict, a duration and a time (one place for all)."""

from __future__ import annotations

import math

MB = 2**20


def mark(ok: bool) -> str:
    """A target's verdict cell."""
    return "met" if ok else "**missed**"


def secs(seconds: float) -> str:
    return f"{seconds:.1f} s"


def ms(value: float) -> str:
    """Milliseconds, or a dash when not measured (NaN)."""
    return "–" if math.isnan(value) else f"{value:.2f}"
