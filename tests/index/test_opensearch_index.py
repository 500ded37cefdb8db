"""What only the OpenSearch backend has: the versioned alias and its upgrade, bulk retries on a
real 429, errors a person can act on, and its mapping. (What every backend does is in
``test_index_contract.py``.) Each test uses indexes of its own prefix and deletes them."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from http_front import Front
from index_helpers import acl
from opensearch_pool import unique_prefix
from opensearchpy import OpenSearch

from pdsearch.index.base import Document
from pdsearch.index.opensearch import (
    MAPPING_VERSION,
    WRITE_RETRY,
    OpenSearchIndex,
    OpenSearchIndexError,
    OpenSearchMappingError,
    OpenSearchWriteError,
    alias_name,
    index_body,
    index_name,
)

#: sha256 of index_body() as sorted JSON (with vectors, without), per mapping version.
#: Changing the settings or the mapping without raising MAPPING_VERSION would leave existing
#: indexes on the old mapping: raise the version (opening then upgrades them) and add its
#: fingerprints here.
FINGERPRINTS = {
    1: ("2d4b8b61aad8f2b148c4c456f1025aadde628b2b0793cb8f16292f8d9c139f5a",
        "8ac9efcf778138361fe339d601a3364e665d22a802c4296e13846cf745e95513"),
}


def doc(n: int, title: str, content: str = "", racl: tuple[str, ...] = ("acme",)) -> Document:
    return Document(id=f"schedule:P{n}", type="schedule", title=title, content=content,
                    url=f"https://acme.pagerduty.com/schedules/P{n}", sys_racl=racl, source="c1")


@pytest.fixture(scope="module")
def client(opensearch_url: str) -> Iterator[OpenSearch]:
    raw = OpenSearch(hosts=[opensearch_url], timeout=60)
    yield raw
    raw.close()


@pytest.fixture
def prefix(client: OpenSearch) -> Iterator[str]:
    """A prefix of this test's own; every index under it is deleted afterwards."""
    name = unique_prefix("os")
    yield name
    for found in client.indices.get(index=f"{name}-*", ignore=[404]):
        if found.startswith(name):
            client.indices.delete(index=found, ignore=[404])


class Pauses:
    """The index's ``sleep``: records each pause instead of waiting, and may act on it."""

    def __init__(self, on_pause: object = None) -> None:
        self.seen: list[float] = []
        self.on_pause = on_pause

    def __call__(self, seconds: float) -> None:
        self.seen.append(seconds)
        if callable(self.on_pause):
            self.on_pause()


def test_the_mapping_is_pinned_to_its_version() -> None:
    fingerprints = tuple(
        hashlib.sha256(json.dumps(index_body(vectors=v), sort_keys=True).encode()).hexdigest()
        for v in (True, False)
    )
    assert FINGERPRINTS.get(MAPPING_VERSION) == fingerprints


def test_a_new_prefix_gets_a_versioned_index_behind_its_alias(
    opensearch_url: str, client: OpenSearch, prefix: str
) -> None:
    with OpenSearchIndex(opensearch_url, prefix=prefix) as index:
        index.upsert([doc(1, "Payments")])
        assert index.vectors
    behind = client.indices.get_alias(name=alias_name(prefix))
    assert list(behind) == [index_name(prefix, MAPPING_VERSION)]
    mapping = client.indices.get_mapping(index=index_name(prefix, MAPPING_VERSION))
    vector = mapping[index_name(prefix, MAPPING_VERSION)]["mappings"]["properties"]["vector"]
    # faiss and nmslib need native libraries the Maven plugin lacks: lucene or nothing.
    assert vector["type"] == "knn_vector"
    assert vector["method"]["engine"] == "lucene"
    assert vector["dimension"] == 384
    with OpenSearchIndex(opensearch_url, prefix=prefix) as again:  # reopening reuses it
        assert again.count() == 1
        again.drop()
    assert not client.indices.exists(index=index_name(prefix, MAPPING_VERSION))
    assert not client.indices.exists_alias(name=alias_name(prefix))


def test_a_cluster_without_the_knn_plugin_gets_an_index_without_vectors(
    opensearch_url: str, client: OpenSearch, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    def no_knn(method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]] | None:
        # What a node without the plugin answers to an index that asks for it.
        if method == "PUT" and b"knn" in body:
            reason = ("unknown setting [index.knn] please check that any required plugins are "
                      "installed, or check the breaking changes documentation for removed "
                      "settings")
            error = {"type": "illegal_argument_exception", "reason": reason}
            return 400, {"error": {**error, "root_cause": [error]}, "status": 400}
        return None

    with (Front(opensearch_url, no_knn) as front, caplog.at_level(logging.WARNING),
          OpenSearchIndex(front.url, prefix=prefix) as index):
        assert not index.vectors
        index.upsert([doc(1, "Payments", "weekly rotation")])
        assert index.search("rotations", acl("acme")).total == 1
    assert "no k-NN plugin" in caplog.text
    assert "semantic search is off" in caplog.text
    mapping = client.indices.get_mapping(index=index_name(prefix, MAPPING_VERSION))
    assert "vector" not in mapping[index_name(prefix, MAPPING_VERSION)]["mappings"]["properties"]
    with OpenSearchIndex(opensearch_url, prefix=prefix) as again:  # reopened as it is
        assert not again.vectors
        assert again.count() == 1
        assert again.nearest([1.0] * 384, acl("acme"), 5) == []
        with pytest.raises(OpenSearchIndexError, match="semantic search is off"):
            again.store_vectors([("c1", "schedule:P1", [1.0] * 384)])


def _old_index(client: OpenSearch, prefix: str, docs: list[Document]) -> str:
    """An index as an older pdsearch (mapping version 0) left it: the documents' fields in
    ``_source``, the standard analyser (no stemming), behind the alias."""
    old = index_name(prefix, 0)
    fields: dict[str, dict[str, Any]] = {
        name: {"type": "keyword"} for name in ("source", "doc_id", "type", "content_hash")}
    fields |= {"title": {"type": "text"}, "content": {"type": "text"},
               "url": {"type": "keyword", "index": False},
               "sys_racl": {"type": "keyword"}, "acl": {"type": "keyword"}}
    client.indices.create(index=old, body={
        "settings": {"number_of_shards": 1, "number_of_replicas": 0},
        "mappings": {"_meta": {"pdsearch": {"mapping_version": 0}}, "properties": fields},
        "aliases": {alias_name(prefix): {}},
    })
    lines = []
    for d in docs:
        lines.append(json.dumps({"index": {"_id": f"{d.source}/{d.id}"}}))
        lines.append(json.dumps({"source": d.source, "doc_id": d.id, "type": d.type,
                                 "title": d.title, "content": d.content, "url": d.url,
                                 "sys_racl": list(d.sys_racl), "content_hash": d.content_hash,
                                 "acl": list(d.sys_racl)}))
    client.bulk(index=old, body="\n".join(lines) + "\n", params={"refresh": "true"})
    return old


def test_an_older_mapping_is_upgraded_while_searches_keep_answering(
    opensearch_url: str, client: OpenSearch, prefix: str
) -> None:
    docs = [doc(i, f"Schedule {i}", f"weekly rotations of team {i % 7}") for i in range(2500)]
    old = _old_index(client, prefix, docs)
    alias = alias_name(prefix)

    def searchable() -> int:
        found = client.search(index=alias, body={"query": {"match": {"content": "rotations"}},
                                                 "track_total_hits": True, "size": 1})
        return int(found["hits"]["total"]["value"])

    # Another replica (still on the old version) keeps searching through the alias while
    # this one copies: at every step of the copy, it gets every document.
    answers: list[tuple[int, int, int]] = []
    index = OpenSearchIndex(opensearch_url, prefix=prefix,
                            on_upgrade=lambda done, total: answers.append(
                                (done, total, searchable())))
    try:
        assert len(answers) >= 2
        assert answers[-1][:2] == (2500, 2500)
        assert all(found == 2500 for _, _, found in answers)
        assert list(client.indices.get_alias(name=alias)) == [index_name(prefix, MAPPING_VERSION)]
        assert not client.indices.exists(index=old)
        assert index.count() == 2500
        assert index.get("c1", "schedule:P7") == docs[7]
        assert index.hashes("c1") == {d.id: d.content_hash for d in docs}
        # The new mapping's features work on the copied documents: "rotation" is a stem of
        # "rotations" (the old standard analyser matched only the exact word).
        assert index.search("rotation", acl("acme")).total == 2500
    finally:
        index.close()


def test_an_interrupted_upgrade_is_finished_by_the_next_opening(
    opensearch_url: str, client: OpenSearch, prefix: str
) -> None:
    docs = [doc(i, f"Schedule {i}", "weekly") for i in range(30)]
    old = _old_index(client, prefix, docs)
    # What a crash half-way leaves: the new index made, partly filled, the old one blocked.
    client.indices.create(index=index_name(prefix, MAPPING_VERSION), body=index_body())
    client.indices.put_settings(index=old, body={"index": {"blocks.write": True}})
    with OpenSearchIndex(opensearch_url, prefix=prefix) as index:
        assert index.count() == 30
        index.upsert([doc(99, "Written after the upgrade")])
        assert index.search("written", acl("acme")).total == 1
    assert not client.indices.exists(index=old)


def test_a_newer_mapping_or_a_foreign_index_is_refused(
    opensearch_url: str, client: OpenSearch, prefix: str
) -> None:
    client.indices.create(index=index_name(prefix, MAPPING_VERSION + 1), body={
        "mappings": {"_meta": {"pdsearch": {"mapping_version": MAPPING_VERSION + 1}}},
        "aliases": {alias_name(prefix): {}},
    })
    with pytest.raises(OpenSearchMappingError, match="newer than this pdsearch"):
        OpenSearchIndex(opensearch_url, prefix=prefix)
    other = unique_prefix("foreign")
    client.indices.create(index=alias_name(other))  # a plain index where the alias would go
    try:
        with pytest.raises(OpenSearchMappingError, match="did not make"):
            OpenSearchIndex(opensearch_url, prefix=other)
    finally:
        client.indices.delete(index=alias_name(other))


def _block(client: OpenSearch, prefix: str, blocked: bool) -> None:
    # The flood-stage disk block: OpenSearch refuses every write to the index with 429.
    client.indices.put_settings(index=index_name(prefix, MAPPING_VERSION), body={
        "index": {"blocks.read_only_allow_delete": blocked or None}})


def test_a_write_refused_with_429_is_retried_until_it_passes(
    opensearch_url: str, client: OpenSearch, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    pauses = Pauses(on_pause=lambda: _block(client, prefix, False))
    with OpenSearchIndex(opensearch_url, prefix=prefix, sleep=pauses) as index:
        index.upsert([doc(1, "Before")])
        _block(client, prefix, True)
        with caplog.at_level(logging.WARNING):
            index.upsert([doc(2, "Payments"), doc(3, "Payments backup")])
        # The node answered 429 for both documents; the pause lifted the block; the retry
        # wrote them.
        assert len(pauses.seen) == 1
        assert 0 < pauses.seen[0] <= WRITE_RETRY.first_delay
        assert "refused 2 of 2 writes (429" in caplog.text
        assert index.search("payments", acl("acme")).total == 2


def test_a_write_still_refused_after_the_retries_fails_clearly(
    opensearch_url: str, client: OpenSearch, prefix: str
) -> None:
    pauses = Pauses()
    with OpenSearchIndex(opensearch_url, prefix=prefix, sleep=pauses) as index:
        index.upsert([doc(1, "Before")])
        _block(client, prefix, True)
        try:
            with pytest.raises(OpenSearchWriteError) as caught:
                index.upsert([doc(2, "Payments")])
        finally:
            _block(client, prefix, False)
        assert len(pauses.seen) == WRITE_RETRY.attempts - 1
        assert max(pauses.seen) <= WRITE_RETRY.max_delay
        assert sum(pauses.seen) <= WRITE_RETRY.longest_wait
        assert caught.value.failed == 1
        assert caught.value.attempted == 1
        message = str(caught.value)
        assert "still refused 1 of 1 writes" in message
        assert "429" in message
        assert opensearch_url.split("//")[1] in message
        assert index.get("c1", "schedule:P2") is None
        assert index.count() == 1


def test_a_write_of_several_requests_is_searchable_when_it_returns(
    opensearch_url: str, prefix: str
) -> None:
    # More documents than one bulk request carries: the refresh comes after the last request.
    many = [doc(i, f"Rotation {i}", "nightly") for i in range(1200)]
    with OpenSearchIndex(opensearch_url, prefix=prefix) as index:
        index.upsert(many)
        assert index.search("nightly", acl("acme")).total == 1200
        index.delete("c1", [d.id for d in many[:700]])
        assert index.search("nightly", acl("acme")).total == 500
        # A bulk load without a refresh per call: searchable after refresh().
        index.upsert([doc(i, f"Daily {i}", "daily") for i in range(2000, 2100)], refresh=False)
        index.refresh()
        assert index.search("daily", acl("acme")).total == 100


def test_the_last_of_one_key_in_a_call_wins(opensearch_url: str, prefix: str) -> None:
    # One call naming one document twice, as SQLite's upsert takes it: the last one stays.
    batch = [doc(1, "First")] + [doc(i, f"Other {i}") for i in range(2, 300)] + [doc(1, "Last")]
    with OpenSearchIndex(opensearch_url, prefix=prefix) as index:
        index.upsert(batch)
        got = index.get("c1", "schedule:P1")
        assert got is not None
        assert got.title == "Last"
        assert index.count() == 299
