"""What the MCP tools take and answer: pydantic models, so each tool publishes an input and
an output schema, and the on-call answerer the service may plug in.

The shapes follow the chat assistants' connector convention (``search`` → results with ``id``,
``title``, ``url``; ``fetch`` → ``id``, ``title``, ``text``, ``url``, ``metadata``) and, for
``who_is_on_call``, DESIGN.md 2.4's ``GET /oncall`` answer with 2.5's entries. An ``id`` is
``<connector_id>/<document id>`` (``3840a0.../escalation_policy:PEYDORN``): unambiguous when
two connectors read the same PagerDuty account, and what ``fetch`` takes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Protocol

from pydantic import BaseModel, ConfigDict, Field

#: Longest ``query`` a tool accepts (the REST search takes as much).
MAX_QUERY_CHARS: Final = 10_000
#: Longest ``id`` ``fetch`` accepts: a connector id, a slash and a document id, with room.
MAX_ID_CHARS: Final = 500
MAX_RESULTS: Final = 50
DEFAULT_RESULTS: Final = 10


class OnCallAnswerer(Protocol):
    """Who is on call for what ``user_email`` may see, matching ``query``, at ``at`` (aware,
    UTC): a dict shaped like ``GET /api/v1/oncall``'s answer (DESIGN.md 2.4 and 2.5):
    ``{"at", "total", "data": [{"id", "connector_id", "type", "title", "url", "oncall"}]}``."""

    def __call__(self, user_email: str, query: str, at: datetime) -> dict[str, Any]: ...


class _Out(BaseModel):
    model_config = ConfigDict(extra="ignore")


class SearchResult(_Out):
    id: str = Field(description="<connector_id>/<document id>; pass it to fetch")
    title: str
    url: str = Field(description="the object in PagerDuty")
    snippet: str = Field(description="plain text around the words that matched")
    type: str = Field(description="escalation_policy or schedule")


class SearchOutput(_Out):
    total: int = Field(description="how many documents match, of those the person may see")
    results: list[SearchResult]


class FetchMetadata(_Out):
    type: str = Field(description="escalation_policy or schedule")
    connector_id: str
    document_id: str = Field(description="the document's id within its connector")


class FetchOutput(_Out):
    id: str
    title: str
    text: str = Field(description="the whole document: every level, layer, user, team, service")
    url: str
    metadata: FetchMetadata


class OnCallUser(_Out):
    id: str
    name: str
    email: str


class OnCallEntry(_Out):
    level: int | None = Field(description="escalation level; null on a schedule")
    user: OnCallUser
    schedule_id: str | None = Field(
        description="the schedule the shift comes from; null when targeted directly"
    )
    start: str | None = Field(description="ISO 8601 UTC; null when targeted directly")
    end: str | None = Field(description="ISO 8601 UTC; null when targeted directly")


class OnCall(_Out):
    now: list[OnCallEntry] = Field(description="who is on call at `at`")
    next: list[OnCallEntry] = Field(description="who takes the following shift")


class OnCallItem(_Out):
    id: str = Field(description="<connector_id>/<document id>; pass it to fetch")
    connector_id: str
    type: str = Field(description="escalation_policy or schedule")
    title: str
    url: str
    oncall: OnCall | None = Field(description="null where pdsearch does not know")


class OnCallOutput(_Out):
    at: str = Field(description="the moment asked about, ISO 8601 UTC")
    total: int
    data: list[OnCallItem]
