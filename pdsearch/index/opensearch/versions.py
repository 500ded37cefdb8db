"""The alias and the versioned index behind it: create, adopt or upgrade on opening.

``<prefix>-docs`` is an alias; the documents are in ``<prefix>-docs-v<N>``. Opening finds the
index behind the alias and:

- none: creates ``-v<MAPPING_VERSION>`` with the alias in the same request (atomic; two
  processes racing both end up on the one index);
- the current version: uses it;
- an older version: upgrades without downtime. Creates the new index, blocks writes to the
  old one (so nothing written meanwhile is lost: a writer gets a clear error instead), copies
  every document into the new index through this version's code, then moves the alias in one
  ``_aliases`` request (searches answer from the old index until that instant and from the new
  one after it) and deletes the old index. An upgrade that stops half-way (a crash) is resumed
  by the next opening: copying again is harmless, as each document keeps its ``_id``;
- a newer version, several indices, or an index of that name pdsearch did not make: refuses,
  saying what to do.

The copy runs in the process that opens the index (a few thousand documents a second); writes
wait for the switch, searches don't.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any, Final

from opensearchpy import OpenSearch
from opensearchpy.exceptions import RequestError, TransportError

from pdsearch.index.opensearch import bulk
from pdsearch.index.opensearch.connection import WRITE_RETRY, Caller
from pdsearch.index.opensearch.documents import body, doc_key, document
from pdsearch.index.opensearch.errors import OpenSearchIndexError, OpenSearchMappingError
from pdsearch.index.opensearch.mapping import (
    MAPPING_VERSION,
    alias_name,
    has_vectors,
    index_body,
    index_name,
    mapping_version,
)

log = logging.getLogger(__name__)

#: ``on_upgrade(copied, total)`` is told how an upgrade's copy is going.
UpgradeProgress = Callable[[int, int], None]

COPY_BATCH: Final = 1000
SCROLL_KEEP: Final = "5m"


class Versions:
    """Opens the alias of one prefix (see the module docstring)."""

    def __init__(
        self,
        caller: Caller,
        client: OpenSearch,
        prefix: str,
        *,
        shards: int = 1,
        replicas: str = "0-1",
        on_upgrade: UpgradeProgress | None = None,
    ) -> None:
        self.caller = caller
        self.client = client
        self.alias = alias_name(prefix)
        self.target = index_name(prefix, MAPPING_VERSION)
        self.shards = shards
        self.replicas = replicas
        self.on_upgrade = on_upgrade
        #: Whether the index has the k-NN field (set by ``open``).
        self.vectors = False

    def open(self) -> str:
        """Make the alias point at an index of ``MAPPING_VERSION``; returns the alias.
        Afterwards ``vectors`` says whether that index has the k-NN field."""
        alias = self._open()
        self.vectors = has_vectors(self._mappings(self.target))
        return alias

    def _open(self) -> str:
        for _ in range(3):  # another process may create or upgrade at the same moment
            behind = self._behind()
            if not behind:
                if self._exists(self.alias):
                    raise self._refuse(
                        f"holds an index named {self.alias!r} that pdsearch did not make (it "
                        "expects an alias of that name). Choose another index prefix."
                    )
                if self._create(with_alias=True):
                    log.info("created the search index %s behind %s", self.target, self.alias)
                    return self.alias
                if not self._behind():
                    # The target exists without the alias (removed by hand): adopt it.
                    self._check_version(self.target)
                    self._move_alias(None)
                continue
            if len(behind) > 1:
                raise self._refuse(
                    f"has the alias {self.alias!r} on several indices ({', '.join(behind)}); "
                    "pdsearch writes through it and needs exactly one. Remove the alias from "
                    "all but one."
                )
            current = behind[0]
            version = self._check_version(current)
            if version == MAPPING_VERSION:
                return self.alias
            self._upgrade(current, version)
            return self.alias
        raise self._refuse(f"kept changing the alias {self.alias!r} while pdsearch opened it")

    # -- steps -----------------------------------------------------------------------------

    def _behind(self) -> list[str]:
        response = self.caller.call(
            "read the index alias",
            lambda: self.client.indices.get_alias(name=self.alias, ignore=[404]),
        )
        return sorted(
            name for name, info in response.items()
            if isinstance(info, dict) and self.alias in info.get("aliases", {})
        )

    def _exists(self, name: str) -> bool:
        return bool(self.caller.call(
            "look for the index", lambda: self.client.indices.exists(index=name)
        ))

    def _create(self, *, with_alias: bool) -> bool:
        """Create the target index (with the alias); False when it already exists. Without
        the k-NN plugin the cluster refuses the vector field: the index is made without it."""
        try:
            self._create_body(with_alias, vectors=True)
        except OpenSearchIndexError as exc:
            cause = exc.__cause__
            if not isinstance(cause, RequestError):
                raise
            if cause.error == "resource_already_exists_exception":
                return False
            if "knn" not in str(cause.info).lower():
                raise
            log.warning("OpenSearch at %s has no k-NN plugin: the index is made without "
                        "vectors, so semantic search is off (keyword search is not affected)",
                        self.caller.endpoint.url)
            return self._create_plain(with_alias)
        return True

    def _create_plain(self, with_alias: bool) -> bool:
        try:
            self._create_body(with_alias, vectors=False)
        except OpenSearchIndexError as exc:
            cause = exc.__cause__
            if isinstance(cause, RequestError) and (
                    cause.error == "resource_already_exists_exception"):
                return False
            raise
        return True

    def _create_body(self, with_alias: bool, *, vectors: bool) -> None:
        payload = index_body(shards=self.shards, replicas=self.replicas, vectors=vectors)
        if with_alias:
            payload["aliases"] = {self.alias: {}}
        self.caller.call(
            "create the search index",
            lambda: self.client.indices.create(index=self.target, body=payload),
        )

    def _mappings(self, name: str) -> dict[str, Any]:
        response = self.caller.call(
            "read the index mapping", lambda: self.client.indices.get_mapping(index=name)
        )
        first: dict[str, Any] = next(iter(response.values()), {})
        mappings: dict[str, Any] = first.get("mappings", {})
        return mappings

    def _check_version(self, name: str) -> int:
        version = mapping_version(self._mappings(name))
        if version is None:
            raise self._refuse(
                f"has the alias {self.alias!r} on {name!r}, which pdsearch did not make (no "
                "mapping version). Choose another index prefix."
            )
        if version > MAPPING_VERSION:
            raise self._refuse(
                f"has the index {name!r} at mapping version {version}, newer than this pdsearch "
                f"knows ({MAPPING_VERSION}). Upgrade pdsearch, or use another index prefix."
            )
        return version

    def _upgrade(self, old: str, version: int) -> None:
        log.warning("upgrading the search index %s (mapping version %d) to %s (version %d); "
                    "searches keep answering, writes wait until it is done",
                    old, version, self.target, MAPPING_VERSION)
        if not self._create(with_alias=False):
            log.info("%s exists already: resuming an upgrade", self.target)
        self.caller.call(
            "block writes to the old index",
            lambda: self.client.indices.put_settings(
                index=old, body={"index": {"blocks.write": True}}),
        )
        copied = self._copy(old, has_vectors(self._mappings(self.target)))
        self.caller.call("refresh the new index",
                         lambda: self.client.indices.refresh(index=self.target))
        self._move_alias(old)
        self.caller.call("delete the old index",
                         lambda: self.client.indices.delete(index=old, ignore=[404]))
        log.warning("upgraded the search index to %s: %d documents", self.target, copied)

    def _copy(self, old: str, vectors: bool) -> int:
        """Every document of ``old`` into the target, rewritten by this version's code."""
        page = self.caller.call("read the old index", lambda: self.client.search(
            index=old, scroll=SCROLL_KEEP, size=COPY_BATCH,
            body={"sort": ["_doc"], "track_total_hits": True},
        ))
        total = int(page["hits"]["total"]["value"])
        copied = 0
        scroll_id = page.get("_scroll_id")
        try:
            while page["hits"]["hits"]:
                actions = []
                for hit in page["hits"]["hits"]:
                    doc = document(hit["_source"])
                    vector = hit["_source"].get("vector") if vectors else None
                    actions.append(bulk.Action(doc_key(doc.source, doc.id), body(doc, vector)))
                bulk.write(self.caller, self.client, self.target, actions, WRITE_RETRY)
                copied += len(actions)
                if self.on_upgrade is not None:
                    self.on_upgrade(copied, total)
                page = self.caller.call("read the old index", partial(
                    self.client.scroll, scroll_id=scroll_id, scroll=SCROLL_KEEP))
                scroll_id = page.get("_scroll_id", scroll_id)
        finally:
            if scroll_id:
                last = scroll_id
                try:
                    self.client.clear_scroll(scroll_id=last, ignore=[404])
                except TransportError:
                    log.info("could not clear the upgrade's scroll; it expires by itself")
        return copied

    def _move_alias(self, old: str | None) -> None:
        """Point the alias at the target, away from ``old``, in one request."""
        actions: list[dict[str, Any]] = [{"add": {"index": self.target, "alias": self.alias}}]
        if old is not None:
            actions.insert(0, {"remove": {"index": old, "alias": self.alias}})
        try:
            self.caller.call("switch the alias to the new index",
                             lambda: self.client.indices.update_aliases(body={"actions": actions}))
        except Exception:
            # Another process may have switched it first; that is the same result.
            if self._behind() != [self.target]:
                raise

    def _refuse(self, what: str) -> OpenSearchMappingError:
        return OpenSearchMappingError(f"OpenSearch at {self.caller.endpoint.url} {what}")
