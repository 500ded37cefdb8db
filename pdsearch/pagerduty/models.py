"""Typed models of the PagerDuty objects the connector reads.

Shapes follow PagerDuty's OpenAPI spec (its copy: ``tests/data/pagerduty/openapiv3.json``).
Unknown fields are ignored and optional ones may be missing, because PagerDuty adds fields over
time and omits some depending on ``include[]``. A field of the wrong type is a validation error,
which the client turns into an ``InvalidResponse`` naming the object."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class PDModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Reference(PDModel):
    """Any ``*_reference`` object: enough to name and link the target."""

    id: str
    type: str = ""
    summary: str | None = None
    self_url: str | None = Field(default=None, alias="self")
    html_url: str | None = None


class User(PDModel):
    id: str
    type: str = "user"
    name: str = ""
    email: str = ""
    role: str = "user"
    time_zone: str | None = None
    job_title: str | None = None
    description: str | None = None
    html_url: str | None = None
    teams: list[Reference] = Field(default_factory=list)


class Team(PDModel):
    id: str
    type: str = "team"
    name: str = ""
    summary: str | None = None
    description: str | None = None
    default_role: str | None = None
    html_url: str | None = None

    @property
    def private(self) -> bool:
        """PagerDuty: a team is private when its default role is "none"."""
        return self.default_role == "none"


class Service(PDModel):
    """A service: what pdsearch reads of it is what it is for (its description)."""

    id: str
    type: str = "service"
    name: str = ""
    summary: str | None = None
    description: str | None = None
    html_url: str | None = None


class TeamMember(PDModel):
    user: Reference
    role: str = "responder"


class Restriction(PDModel):
    type: Literal["daily_restriction", "weekly_restriction"]
    start_time_of_day: str
    duration_seconds: int
    start_day_of_week: int | None = None


class ScheduleLayerUser(PDModel):
    user: Reference


class ScheduleLayer(PDModel):
    id: str | None = None
    name: str | None = None
    start: str
    end: str | None = None
    rotation_virtual_start: str
    rotation_turn_length_seconds: int
    users: list[ScheduleLayerUser] = Field(default_factory=list)
    restrictions: list[Restriction] = Field(default_factory=list)


class Schedule(PDModel):
    """A layer-based (v2) schedule, as listed with ``include[]=schedule_layers``."""

    id: str
    type: str = "schedule"
    name: str = ""
    summary: str | None = None
    description: str | None = None
    time_zone: str = "UTC"
    html_url: str | None = None
    schedule_layers: list[ScheduleLayer] = Field(default_factory=list)
    users: list[Reference] = Field(default_factory=list)
    teams: list[Reference] = Field(default_factory=list)
    escalation_policies: list[Reference] = Field(default_factory=list)


class ZonedDateTime(PDModel):
    date_time: str
    time_zone: str


class ShiftMember(PDModel):
    type: Literal["user_member", "empty_member"]
    user_id: str | None = None


class EventAssignmentStrategy(PDModel):
    type: Literal["rotating_member_assignment_strategy", "every_member_assignment_strategy"]
    shifts_per_member: int | None = None
    members: list[ShiftMember] = Field(default_factory=list)


class ScheduleEvent(PDModel):
    id: str
    type: str = "schedule_event"
    name: str = ""
    start_time: ZonedDateTime
    end_time: ZonedDateTime
    effective_since: str
    effective_until: str | None = None
    recurrence: list[str] = Field(default_factory=list)
    assignment_strategy: EventAssignmentStrategy


class Rotation(PDModel):
    id: str
    type: str = "schedule_rotation"
    events: list[ScheduleEvent] = Field(default_factory=list)


class ScheduleV3(PDModel):
    """A shift-based schedule, read one by one from ``/v3/schedules/{id}``."""

    id: str
    type: str = "schedule_v3"
    name: str = ""
    description: str | None = None
    time_zone: str = "UTC"
    html_url: str | None = None
    teams: list[Reference] = Field(default_factory=list)
    escalation_policies: list[Reference] = Field(default_factory=list)
    users: list[Reference] = Field(default_factory=list)
    rotations: list[Rotation] = Field(default_factory=list)


class EscalationRule(PDModel):
    id: str | None = None
    escalation_delay_in_minutes: int = 0
    targets: list[Reference] = Field(default_factory=list)
    escalation_rule_assignment_strategy: str | None = None


class EscalationPolicy(PDModel):
    id: str
    type: str = "escalation_policy"
    name: str = ""
    summary: str | None = None
    description: str | None = None
    html_url: str | None = None
    num_loops: int = 0
    on_call_handoff_notifications: str | None = None
    escalation_rules: list[EscalationRule] = Field(default_factory=list)
    services: list[Reference] = Field(default_factory=list)
    teams: list[Reference] = Field(default_factory=list)


# --- PagerDuty client additions (issue 3): audit records ---


class AuditFieldChange(PDModel):
    name: str
    value: Any = None
    before_value: Any = None


class AuditReferenceChange(PDModel):
    name: str
    added: list[Reference] = Field(default_factory=list)
    removed: list[Reference] = Field(default_factory=list)


class AuditDetails(PDModel):
    resource: Reference | None = None
    fields: list[AuditFieldChange] = Field(default_factory=list)
    references: list[AuditReferenceChange] = Field(default_factory=list)


class AuditRecord(PDModel):
    """One entry of ``/audit/records`` (cursor paged, newest first)."""

    id: str
    execution_time: str
    action: str = ""
    root_resource: Reference | None = None
    actors: list[Reference] = Field(default_factory=list)
    details: AuditDetails | None = None
