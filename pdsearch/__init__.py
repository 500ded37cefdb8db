"""pdsearch: permission-aware search over PagerDuty escalation policies and schedules."""

__version__ = "0.1.0"
