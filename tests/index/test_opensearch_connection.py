"""Reaching OpenSearch: what a person reads when the node is down or refuses the credentials
(never the password), and the retry policy on answers a node gives when it is busy.

The 401 and the request-level 503/429 come from small HTTP servers on 127.0.0.1 (the
development node runs without the security plugin, and a whole request refused by a busy
node can't be provoked on demand); the server in front of the real node forwards every other
request to it. A 429 on bulk items from the node itself is in ``test_opensearch_index.py``.
"""

from __future__ import annotations

import base64
import logging
import socket
from collections.abc import Iterator

import pytest
from http_front import Front
from index_helpers import acl
from opensearch_pool import unique_prefix

from pdsearch.index.base import Document
from pdsearch.index.opensearch import (
    READ_RETRY,
    OpenSearchAuthError,
    OpenSearchIndex,
    OpenSearchUnavailableError,
)

PASSWORD = "hunter2-never-shown"


class Pauses:
    def __init__(self) -> None:
        self.seen: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.seen.append(seconds)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def front(opensearch_url: str) -> Iterator[Front]:
    with Front(opensearch_url) as server:
        yield server


def test_a_node_that_does_not_answer_is_named_and_the_password_is_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = _free_port()  # nothing listens there now
    pauses = Pauses()
    with caplog.at_level(logging.DEBUG), pytest.raises(OpenSearchUnavailableError) as caught:
        OpenSearchIndex(f"http://pdsearch:{PASSWORD}@127.0.0.1:{port}", sleep=pauses)
    message = str(caught.value)
    assert message.startswith(f"OpenSearch at http://127.0.0.1:{port} did not answer: "
                              "Connection refused"), message
    assert len(pauses.seen) == READ_RETRY.attempts - 1  # retried, then gave up
    assert PASSWORD not in message
    assert PASSWORD not in caplog.text
    assert "pdsearch:" not in message  # the URL is shown without its credentials


def test_refused_credentials_say_so_without_showing_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pauses = Pauses()
    with Front(None) as server, caplog.at_level(logging.DEBUG), pytest.raises(
        OpenSearchAuthError
    ) as caught:
        OpenSearchIndex(server.url, username="pdsearch", password=PASSWORD, sleep=pauses)
    message = str(caught.value)
    assert "refused the credentials (401)" in message
    assert "username and password" in message
    assert pauses.seen == []  # a 401 is not retried
    sent = base64.b64encode(f"pdsearch:{PASSWORD}".encode()).decode()
    assert server.seen[0][2] == f"Basic {sent}"  # the credentials did reach the server
    assert PASSWORD not in message
    assert PASSWORD not in caplog.text
    assert sent not in caplog.text


def test_answers_of_a_busy_node_are_retried_reads_and_writes(front: Front) -> None:
    pauses = Pauses()
    prefix = unique_prefix("front")
    front.refuse = [503, 429]  # the first requests of opening
    index = OpenSearchIndex(front.url, prefix=prefix, sleep=pauses)
    try:
        assert len(pauses.seen) == 2
        # A whole bulk request refused (429): retried after a pause.
        bulks_before = sum(1 for method, path, _ in front.seen if "/_bulk" in path)
        front.refuse = [429]
        index.upsert([Document(id="schedule:P1", type="schedule", title="Payments",
                               content="weekly", url="https://x", sys_racl=("acme",),
                               source="c1")])
        bulks = sum(1 for method, path, _ in front.seen if "/_bulk" in path)
        assert bulks - bulks_before == 2
        assert len(pauses.seen) == 3
        front.refuse = [503]
        assert index.search("payments", acl("acme")).total == 1
        assert len(pauses.seen) == 4
        # More refusals than the read policy allows: a clear error, no endless retrying.
        front.refuse = [503] * READ_RETRY.attempts
        with pytest.raises(OpenSearchUnavailableError, match=r"could not search \(503"):
            index.search("payments", acl("acme"))
    finally:
        front.refuse = []
        index.drop()
        index.close()
