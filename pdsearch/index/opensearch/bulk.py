"""Bulk writes with bounded retries.

A call's actions go out in chunks (``CHUNK_ACTIONS`` actions or ``CHUNK_BYTES`` bytes, whichever
comes first), one after the other; only the last action for each ``_id`` is sent. (Chunks sent
side by side were measured: on 2 cores the node spent a quarter more CPU a document, as each
request writes segments of its own, and wrote fewer documents a second.)

Each chunk is retried as a whole when the request gets no answer or a 429/5xx answer, and, when
OpenSearch answers, only for the actions it refused with 429 or 503 (a full write queue,
indexing pressure, a flood-stage disk block): after a growing pause, per ``WRITE_RETRY``. An
action refused for any other reason (a mapping conflict, a write block) is not retried. When the
retries run out the call raises ``OpenSearchWriteError`` saying how many actions were not
applied; the others are.

A bulk request is not a transaction: a call that fails may leave part of its documents written.
Every action names its document's ``_id``, so repeating the call (the next sync does, as hashes
differ) converges to the same index.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from opensearchpy import OpenSearch
from opensearchpy.exceptions import TransportError

from pdsearch.index.opensearch.connection import (
    RETRY_STATUSES,
    WRITE_RETRY,
    Caller,
    RetryPolicy,
    retryable,
    status_text,
)
from pdsearch.index.opensearch.errors import OpenSearchWriteError

log = logging.getLogger(__name__)

CHUNK_ACTIONS: Final = 500
CHUNK_BYTES: Final = 8 * 2**20
BULK_TIMEOUT: Final = 120.0


@dataclass(frozen=True)
class Action:
    """One line pair of a bulk request: index ``source`` under ``key``, or delete ``key``, or
    (``partial``) set the fields of ``source`` in the document ``key`` if it exists."""

    key: str
    source: dict[str, Any] | None = None
    partial: bool = False

    def lines(self) -> bytes:
        if self.source is None:
            return json.dumps({"delete": {"_id": self.key}}).encode() + b"\n"
        op, payload = ("update", {"doc": self.source}) if self.partial else ("index", self.source)
        return (
            json.dumps({op: {"_id": self.key}}).encode()
            + b"\n"
            + json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
            + b"\n"
        )

    @property
    def may_miss(self) -> bool:
        """Whether a 404 (no such document) is an answer rather than a failure."""
        return self.source is None or self.partial


@dataclass(frozen=True)
class Written:
    """What ``write`` did: whether its one request refreshed, and how many actions found their
    document (or made it)."""

    refreshed: bool
    applied: int


def chunks(actions: Iterable[Action]) -> Iterator[list[tuple[Action, bytes]]]:
    chunk: list[tuple[Action, bytes]] = []
    size = 0
    for action in actions:
        lines = action.lines()
        if chunk and (len(chunk) >= CHUNK_ACTIONS or size + len(lines) > CHUNK_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append((action, lines))
        size += len(lines)
    if chunk:
        yield chunk


def write(
    caller: Caller,
    client: OpenSearch,
    index: str,
    actions: Sequence[Action],
    policy: RetryPolicy = WRITE_RETRY,
    *,
    refresh: bool = False,
) -> Written:
    """Apply ``actions`` to ``index`` (see the module docstring). With ``refresh``, when they
    fit in one request, that request also refreshes the shards it wrote to (one round trip
    less than a refresh of its own); ``Written.refreshed`` says whether it did, so the caller
    refreshes otherwise.
    """
    latest = list({action.key: action for action in actions}.values())
    parts = list(chunks(latest))
    inline = refresh and len(parts) == 1
    done = applied = 0
    for chunk in parts:
        try:
            applied += _write_chunk(caller, client, index, chunk, policy, refresh=inline)
        except OpenSearchWriteError as exc:
            untried = len(latest) - done - len(chunk)
            raise OpenSearchWriteError(
                str(exc) if not untried
                else f"{exc} The {untried} writes after them were not tried.",
                failed=exc.failed + untried,
                attempted=len(latest),
            ) from exc.__cause__
        done += len(chunk)
    return Written(refreshed=inline, applied=applied)


def _write_chunk(
    caller: Caller,
    client: OpenSearch,
    index: str,
    chunk: list[tuple[Action, bytes]],
    policy: RetryPolicy,
    *,
    refresh: bool,
) -> int:
    url = caller.endpoint.url
    applied = 0
    params: dict[str, Any] = {"request_timeout": BULK_TIMEOUT}
    if refresh:
        params["refresh"] = "true"
    pending = chunk
    delays = policy.delays()
    while True:
        problem = ""
        retry: list[tuple[Action, bytes]] = []
        try:
            response = client.bulk(
                index=index, body=b"".join(lines for _, lines in pending), params=params,
            )
        except TransportError as exc:
            if not retryable(exc):
                raise caller.error(exc, "write documents") from exc
            retry, problem = pending, status_text(exc)
        else:
            refused: list[str] = []
            for (action, lines), item in zip(pending, response["items"], strict=True):
                result = next(iter(item.values()))
                status = int(result.get("status", 500))
                if status < 300:
                    applied += 1
                    continue
                if status == 404 and action.may_miss:
                    continue
                reason = _item_reason(result)
                if status in RETRY_STATUSES:
                    retry.append((action, lines))
                    problem = f"{status}: {reason}"
                else:
                    refused.append(f"{status}: {reason}")
            if refused:
                raise caller.scrub(OpenSearchWriteError(
                    f"OpenSearch at {url} refused {len(refused)} of {len(chunk)} writes "
                    f"({refused[0]}). They were not applied; the others were.",
                    failed=len(refused) + len(retry), attempted=len(chunk),
                ))
        if not retry:
            return applied
        delay = next(delays, None)
        if delay is None:
            raise caller.scrub(OpenSearchWriteError(
                f"OpenSearch at {url} still refused {len(retry)} of {len(chunk)} writes after "
                f"{policy.attempts} tries over about {policy.longest_wait:.0f} s ({problem}). "
                "They were not applied (the next sync writes them again). Check the cluster's "
                "health and free disk space.",
                failed=len(retry), attempted=len(chunk),
            ))
        log.warning("OpenSearch at %s refused %d of %d writes (%s); trying them again in %.1f s",
                    url, len(retry), len(chunk), problem, delay)
        caller.sleep(delay)
        pending = retry


def _item_reason(result: dict[str, Any]) -> str:
    error = result.get("error")
    if isinstance(error, dict):
        text = str(error.get("reason") or error.get("type") or error)
    else:
        text = str(error or "no reason given")
    return text if len(text) <= 300 else text[:300] + "…"
