"""A simulator run's configuration: the account to generate (or load) and the service's rules.

``SimulatorConfig`` is a plain dataclass so the CLI, tests and ``SimulatorServer`` can build one
directly; ``validate()`` returns the problems a person should fix (the CLI turns them into exit 2).
``SCALES`` are named account sizes for ``--scale``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

Region = Literal["us", "eu"]

FAULT_KINDS: tuple[str, ...] = ("500", "502", "503", "timeout", "cut", "malformed", "429")


@dataclass(frozen=True)
class Scale:
    """An account size: how many of each object ``Account.generate`` makes."""

    teams: int
    users: int
    schedules: int
    policies: int


SCALES: dict[str, Scale] = {
    # A handful of everything: quick tests and a first look.
    "tiny": Scale(teams=3, users=12, schedules=6, policies=5),
    # The default and the test fixtures: every shape appears, still instant.
    "small": Scale(teams=12, users=80, schedules=40, policies=30),
    # A mid-sized company.
    "medium": Scale(teams=60, users=1_500, schedules=300, policies=300),
    # The benchmark account: users past PagerDuty's 10,000 offset cap.
    "large": Scale(teams=400, users=10_000, schedules=2_000, policies=2_000),
}

DEFAULT_SCALE = "small"


@dataclass
class SimulatorConfig:
    host: str = "127.0.0.1"
    port: int = 0  # 0 picks a free port
    seed: int = 1
    teams: int = SCALES[DEFAULT_SCALE].teams
    users: int = SCALES[DEFAULT_SCALE].users
    schedules: int = SCALES[DEFAULT_SCALE].schedules
    policies: int = SCALES[DEFAULT_SCALE].policies
    subdomain: str = "acme"
    region: Region = "us"
    api_key: str | None = None  # None: the server makes one up and prints it
    oauth_client_id: str | None = None
    oauth_client_secret: str | None = None
    oauth_user_id: str | None = None  # whom /oauth/authorize approves as; None: the owner
    token_ttl: int = 3600  # seconds an OAuth access token lives
    rate_limit: int = 960  # requests per minute per token; 0 = no limit
    latency_ms: int = 0
    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = field(default=FAULT_KINDS)
    # False: an account without PagerDuty's Audit Trail feature (the audit endpoints answer 402).
    audit_trail: bool = True
    load: Path | None = None
    save: Path | None = None

    @classmethod
    def for_scale(cls, scale: str, **overrides: Any) -> SimulatorConfig:
        """A config sized by a ``SCALES`` preset; raises ``ValueError`` naming the known scales."""
        if scale not in SCALES:
            known = ", ".join(SCALES)
            raise ValueError(f"unknown scale {scale!r}; choose one of: {known}")
        size = SCALES[scale]
        base = cls(
            teams=size.teams, users=size.users, schedules=size.schedules, policies=size.policies
        )
        return replace(base, **overrides)

    def validate(self) -> list[str]:
        """Problems with this configuration, each saying what to change; empty when it is usable."""
        problems: list[str] = []
        for name in ("teams", "users", "schedules", "policies"):
            if getattr(self, name) < 0:
                problems.append(f"--{name} must be 0 or more")
        if self.users < 1 and self.load is None:
            problems.append("--users must be at least 1 (the account needs an owner)")
        if not 0 <= self.port <= 65535:
            problems.append("--port must be between 0 and 65535")
        if not self.host.strip():
            # An empty host makes uvicorn listen on every interface: a test PagerDuty with a
            # known key should be reachable only where it was asked to be.
            problems.append("--host must name an address, e.g. 127.0.0.1")
        if self.api_key is not None and not self.api_key.strip():
            problems.append("--api-key must not be empty (leave it out to get a generated key)")
        if self.region not in ("us", "eu"):
            problems.append("--region must be us or eu")
        if not self.subdomain or not all(c.isalnum() or c == "-" for c in self.subdomain):
            problems.append("--subdomain must be letters, digits and dashes")
        if self.token_ttl <= 0:
            problems.append("--token-ttl must be a positive number of seconds")
        if self.rate_limit < 0:
            problems.append("--rate-limit must be 0 (no limit) or more")
        if self.latency_ms < 0:
            problems.append("--latency-ms must be 0 or more")
        if not 0.0 <= self.fault_rate <= 1.0:
            problems.append("--fault-rate must be between 0 and 1")
        unknown = [k for k in self.fault_kinds if k not in FAULT_KINDS]
        if unknown:
            problems.append(
                f"unknown fault kinds {', '.join(unknown)}; known: {', '.join(FAULT_KINDS)}"
            )
        if (self.oauth_client_id is None) != (self.oauth_client_secret is None):
            problems.append("give both --oauth-client-id and --oauth-client-secret, or neither")
        return problems
