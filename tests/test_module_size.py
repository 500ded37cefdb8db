"""No module over 500 lines without a written reason: a comment at its top saying why."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 500
REASON = "# Over 500 lines on purpose:"


def test_long_modules_say_why_they_are_long() -> None:
    unexplained = []
    for folder in ("pdsearch", "benchmarks", "tests"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            lines = path.read_text(encoding="utf-8").splitlines()
            if len(lines) > LIMIT and not lines[0].startswith(REASON):
                unexplained.append(f"{path.relative_to(ROOT)}: {len(lines)} lines")
    assert not unexplained, (
        f"over {LIMIT} lines: split them where they split naturally, or start them with "
        f"{REASON!r} and the reason:\n" + "\n".join(unexplained)
    )
