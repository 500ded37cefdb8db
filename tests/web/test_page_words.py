"""The pages' words: plurals, schedules, regions (page_format), as a person reads them."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from pdsearch.web.page_format import describe_schedule, plural, region_label


@pytest.mark.parametrize(
    ("count", "expected"),
    [(0, "0 documents"), (1, "1 document"), (70, "70 documents"), (None, "0 documents")],
)
def test_plural(count: int | None, expected: str) -> None:
    assert plural(count, "document") == expected


def test_plural_with_its_own_many() -> None:
    assert plural(1, "entity", "entities") == "1 entity"
    assert plural(2, "entity", "entities") == "2 entities"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"interval_minutes": 1}, "Every minute"),
        ({"interval_minutes": 90}, "Every 90 minutes"),
        ({"interval_minutes": 60}, "Every hour"),
        ({"interval_minutes": 120}, "Every 2 hours"),
        ({"interval_minutes": 1440}, "Every day"),
        ({"interval_minutes": 2880}, "Every 2 days"),
        ({"cron": "0 3 * * *"}, "By cron '0 3 * * *' (UTC)"),
        ({"cron": "0 3 * * *", "timezone": "Europe/Paris"}, "By cron '0 3 * * *' (Europe/Paris)"),
        (None, "No schedule: syncs run only when started by hand."),
    ],
)
def test_schedules_in_words(spec: dict[str, object] | None, expected: str) -> None:
    assert str(describe_schedule(spec)) == expected


def test_a_one_time_run_is_a_time_element_the_page_localizes() -> None:
    text = str(describe_schedule({"run_at": "2026-12-05T14:30:00+00:00"}))
    assert text == ('Once, at <time datetime="2026-12-05T14:30:00Z">2026-12-05 14:30 UTC'
                    "</time>")


def test_a_cron_line_is_escaped() -> None:
    assert "<b>" not in str(describe_schedule({"cron": "<b>"}))


@dataclass
class _Connector:
    region: str
    base_url: str | None


def test_region_label_says_custom_for_a_custom_base_url() -> None:
    assert region_label(_Connector("us", None)) == "US"
    assert region_label(_Connector("eu", None)) == "EU"
    assert region_label(_Connector("us", "http://127.0.0.1:8123")) == "Custom (127.0.0.1:8123)"
