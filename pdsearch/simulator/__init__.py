"""A PagerDuty look-alike served over HTTP. It never imports the connector's code."""
