"""Reference files the tests read, kept inside the repository (a clone has nothing beside it)."""

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
#: PagerDuty's official OpenAPI description of the REST API v2 (see data/pagerduty/README.md).
PAGERDUTY_SPEC = DATA / "pagerduty" / "openapiv3.json"
#: Example response bodies from that spec and PagerDuty's developer docs.
PAGERDUTY_EXAMPLES = DATA / "pagerduty" / "examples"
