"""The tools' work, apart from any transport: search, fetch and who is on call, each as one
named person, through the same search service and grants as the REST API (``pdsearch.search``).

Every failure a person or an assistant can act on is a ``ToolError`` whose message says what
happened and what to do (the SDK hands it to the model as an ``is_error`` result and keeps
serving); nothing else is expected to escape, and the SDK turns anything that does into a
generic message without its text.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from mcp.server.mcpserver.exceptions import ToolError

from pdsearch.hybrid import QueryEmbedder
from pdsearch.index.base import SearchIndex
from pdsearch.mcp.schemas import (
    DEFAULT_RESULTS,
    MAX_RESULTS,
    FetchMetadata,
    FetchOutput,
    OnCallAnswerer,
    OnCallOutput,
    SearchOutput,
    SearchResult,
)
from pdsearch.search import search, visible_document
from pdsearch.store import Store

NO_ONCALL: Final = (
    "On-call data is not available in this version of pdsearch. Use the search tool to find "
    "the schedule or escalation policy, then fetch it: its text names every level, layer and "
    "user in rotation."
)
_MARKS = re.compile(r"</?mark>")


def document_ref(connector_id: str, doc_id: str) -> str:
    """The id the tools give a document: ``<connector_id>/<document id>``."""
    return f"{connector_id}/{doc_id}"


def plain_snippet(snippet: str) -> str:
    """The index's HTML-safe snippet as plain text for a model: marks dropped, unescaped."""
    return " ".join(html.unescape(_MARKS.sub("", snippet or "")).split())


@dataclass
class McpTools:
    """The three tools over one store and one index; ``oncall`` answers ``who_is_on_call``
    (None: that tool says the data is not available); ``embedder`` makes ``search`` hybrid
    (keyword and meaning), as on the page (None: keyword only)."""

    store: Store
    index: SearchIndex
    oncall: OnCallAnswerer | None = None
    embedder: QueryEmbedder | None = None

    # --- the checks every tool makes first ---

    def ready_for(self, user_email: str) -> str:
        """The person's e-mail, once there is something they could see; else a ToolError
        naming the cause: nothing synced yet, or a person in no permission entity."""
        email = (user_email or "").strip()
        if not email:
            raise ToolError("No person is named for this session, so nothing can be shown.")
        if self.index.count() == 0:
            _, connectors = self.store.connectors.list(limit=1)
            if not connectors:
                raise ToolError(
                    "pdsearch has no PagerDuty connector yet, so there is nothing to search. "
                    "An administrator adds one ('pdsearch connector add NAME --api-key -') "
                    "and syncs it ('pdsearch sync NAME')."
                )
            raise ToolError(
                "No PagerDuty account has been synced into pdsearch yet, so there is nothing "
                "to search. An administrator runs 'pdsearch sync CONNECTOR' (or Sync Now on "
                "the connector's page); try again once it has finished."
            )
        if not self.store.entities.memberships(email):
            raise ToolError(
                f"{email} is in no permission entity of any PagerDuty account pdsearch reads, "
                "so they can see nothing. Check that this is the e-mail address of their "
                "PagerDuty user; a pdsearch administrator can also grant access by hand "
                "('pdsearch entities add-users CONNECTOR ENTITY EMAIL')."
            )
        return email

    # --- the tools ---

    def search(self, user_email: str, query: str, limit: int = DEFAULT_RESULTS) -> SearchOutput:
        email = self.ready_for(user_email)
        results = search(
            self.index, self.store.entities, query.strip(), email, min(limit, MAX_RESULTS),
            embedder=self.embedder,
        )
        return SearchOutput(
            total=results.total,
            results=[
                SearchResult(
                    id=document_ref(hit.source, hit.id),
                    title=hit.title,
                    url=hit.url,
                    snippet=plain_snippet(hit.snippet),
                    type=hit.type,
                )
                for hit in results.hits
            ],
        )

    def fetch(self, user_email: str, ref: str) -> FetchOutput:
        email = self.ready_for(user_email)
        connector_id, _, doc_id = ref.strip().partition("/")
        if not connector_id or not doc_id:
            raise ToolError(
                f"{_shown(ref)} is not a document id. Pass an id exactly as the search tool "
                "returned it: '<connector id>/<document id>', e.g. "
                "'3840a00df72a4ed8a86c4242556e2873/escalation_policy:PEYDORN'."
            )
        doc = visible_document(self.index, self.store.entities, email, connector_id, doc_id)
        if doc is None:  # absent and not visible read alike: nothing leaks either way
            raise ToolError(
                f"No document {_shown(ref)} was found among those {email} may see. Use an id "
                "the search tool returned."
            )
        return FetchOutput(
            id=document_ref(doc.source, doc.id),
            title=doc.title,
            text=doc.content,
            url=doc.url,
            metadata=FetchMetadata(type=doc.type, connector_id=doc.source, document_id=doc.id),
        )

    def who_is_on_call(self, user_email: str, query: str, at: str | None) -> OnCallOutput:
        if self.oncall is None:
            raise ToolError(NO_ONCALL)
        when = parse_at(at)
        email = self.ready_for(user_email)
        try:
            answer = _json_ready(self.oncall(email, query.strip(), when))
        except ValueError as exc:  # a time outside the stored window, no on-call data yet
            raise ToolError(str(exc)) from None
        for item in answer.get("data") or []:
            if isinstance(item, dict) and item.get("connector_id") and item.get("id"):
                item["id"] = document_ref(str(item["connector_id"]), str(item["id"]))
        return OnCallOutput.model_validate(answer)


def parse_at(at: str | None) -> datetime:
    """``at`` as an aware UTC datetime (now when blank); a time without a zone is UTC."""
    if at is None or not at.strip():
        return datetime.now(UTC)
    text = at.strip()
    try:
        when = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" else text)
    except ValueError:
        raise ToolError(
            f"'at' must be an ISO 8601 time such as 2026-12-05T09:30:00Z, not {_shown(text)}; "
            "leave it out for now."
        ) from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)


def _shown(value: str, limit: int = 80) -> str:
    """A caller's value quoted in a message, cut short: a huge string is not echoed back."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def _json_ready(answer: dict[str, Any]) -> dict[str, Any]:
    """The answerer's dict with any datetime as ISO 8601 UTC, as the API would send it."""

    def iso(value: object) -> str:
        if isinstance(value, datetime):
            aware = value if value.tzinfo else value.replace(tzinfo=UTC)
            return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")
        raise TypeError(f"not JSON: {type(value).__name__}")

    loaded: dict[str, Any] = json.loads(json.dumps(answer, default=iso))
    return loaded
