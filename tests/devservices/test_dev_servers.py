"""The real servers that backend tests run against: PostgreSQL takes a table, OpenSearch stems
English and finds nearest vectors. (Through the session fixtures, so under ``./run test`` these
also prove that ``./run services`` handed working URLs over.)"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from opensearchpy import OpenSearch
from psycopg import sql


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def test_postgres_creates_and_reads_a_table(database_url: str) -> None:
    table = sql.Identifier(_unique("smoke"))
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (id integer PRIMARY KEY, body text)").format(table))
        try:
            conn.execute(
                sql.SQL("INSERT INTO {} VALUES (%s, %s), (%s, %s)").format(table),
                [1, "first", 2, "second"],
            )
            rows = conn.execute(sql.SQL("SELECT id, body FROM {} ORDER BY id").format(table))
            assert rows.fetchall() == [(1, "first"), (2, "second")]
        finally:
            conn.execute(sql.SQL("DROP TABLE {}").format(table))


def test_postgres_role_may_create_databases_but_is_no_superuser(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT rolsuper, rolcreatedb FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
    assert row == (False, True)


def test_postgres_refuses_a_wrong_password(database_url: str) -> None:
    parts = urlsplit(database_url)
    netloc = f"{parts.username}:not-the-password@{parts.hostname}:{parts.port}"
    wrong = parts._replace(netloc=netloc)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(urlunsplit(wrong), connect_timeout=5).close()


@pytest.fixture
def opensearch(opensearch_url: str) -> Iterator[OpenSearch]:
    client = OpenSearch(hosts=[opensearch_url], timeout=30)
    yield client
    client.close()


@pytest.fixture
def index_name(opensearch: OpenSearch) -> Iterator[str]:
    """A fresh name, and whatever got that name deleted afterwards (the node is shared)."""
    name = _unique("smoke")
    yield name
    opensearch.indices.delete(index=name, ignore_unavailable=True)


def test_opensearch_is_healthy_with_the_modules_the_backend_needs(opensearch: OpenSearch) -> None:
    assert opensearch.cluster.health()["status"] in ("green", "yellow")
    nodes = opensearch.nodes.info(metric="plugins")["nodes"]
    (node,) = nodes.values()
    loaded = {entry["name"] for entry in node["modules"] + node["plugins"]}
    assert {"analysis-common", "lang-painless", "opensearch-knn"} <= loaded


def test_opensearch_stems_english_and_finds_the_document(
    opensearch: OpenSearch, index_name: str
) -> None:
    opensearch.indices.create(
        index=index_name,
        body={
            "settings": {"number_of_shards": 1, "number_of_replicas": 0},
            "mappings": {"properties": {"title": {"type": "text", "analyzer": "english"}}},
        },
    )
    opensearch.index(index=index_name, id="ep1", body={"title": "Payments escalation policies"})
    opensearch.index(index=index_name, id="s1", body={"title": "Database primary rotation"})
    opensearch.indices.refresh(index=index_name)

    # "policy" and "escalating" match "policies" and "escalation" only through the stemmer.
    found = opensearch.search(
        index=index_name, body={"query": {"match": {"title": "escalating policy"}}}
    )
    assert [hit["_id"] for hit in found["hits"]["hits"]] == ["ep1"]


def test_opensearch_knn_with_the_lucene_engine(opensearch: OpenSearch, index_name: str) -> None:
    opensearch.indices.create(
        index=index_name,
        body={
            "settings": {"index": {"knn": True, "number_of_replicas": 0}},
            "mappings": {
                "properties": {
                    "vector": {
                        "type": "knn_vector",
                        "dimension": 3,
                        # Maven's k-NN has no native libraries: faiss or nmslib would kill the node.
                        "method": {"name": "hnsw", "space_type": "cosinesimil", "engine": "lucene"},
                    }
                }
            },
        },
    )
    for doc_id, vector in {"east": [1, 0, 0], "north": [0, 1, 0], "up": [0, 0, 1]}.items():
        opensearch.index(index=index_name, id=doc_id, body={"vector": vector})
    opensearch.indices.refresh(index=index_name)

    approximate = opensearch.search(
        index=index_name,
        body={"size": 2, "query": {"knn": {"vector": {"vector": [0.1, 0.9, 0.2], "k": 2}}}},
    )
    assert [hit["_id"] for hit in approximate["hits"]["hits"]] == ["north", "up"]

    # Exact scoring of a filtered set (what an access-filtered semantic search needs).
    exact = opensearch.search(
        index=index_name,
        body={
            "query": {
                "script_score": {
                    "query": {"ids": {"values": ["east", "up"]}},
                    "script": {
                        "source": "knn_score",
                        "lang": "knn",
                        "params": {
                            "field": "vector",
                            "query_value": [0.1, 0.9, 0.2],
                            "space_type": "cosinesimil",
                        },
                    },
                }
            }
        },
    )
    assert [hit["_id"] for hit in exact["hits"]["hits"]] == ["up", "east"]
