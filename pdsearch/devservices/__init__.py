"""Real PostgreSQL and OpenSearch servers on loopback for development and tests (``./run
services``, and the ``database_url`` / ``opensearch_url`` test fixtures).

A development tool: the service never imports it.

    with running(Options(quick=True)) as services:
        psycopg.connect(services.database_url)
        OpenSearch(services.index_url)
"""

from pdsearch.devservices.process import ServicesError
from pdsearch.devservices.runner import Options, Services, install, running

__all__ = ["Options", "Services", "ServicesError", "install", "running"]
