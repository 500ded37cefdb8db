"""Answers of the simulator checked against PagerDuty's OpenAPI description, for any test.

``load_spec()`` reads ``tests/data/pagerduty/openapiv3.json`` once per process, with spec
validation off (it does not pass strict validation; see ``tests/data/pagerduty/README.md``).
``relaxed_spec()`` is the same description with the one place PagerDuty's answers and its types
disagree opened up: ``Oncall.start``, ``end`` and ``schedule`` may be ``null`` (their own
descriptions say so for a user an escalation rule targets directly), nothing else.
``validate_answer(spec, method, path, status, content, content_type)`` checks one answer;
``Checker(spec, client)`` sends requests through an httpx client on the simulator and validates
each answer (status, content type, body) against the operation it belongs to.
"""

from __future__ import annotations

import copy
import functools
import json
from typing import Any
from urllib.parse import urlsplit

import httpx
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from spec_paths import PAGERDUTY_SPEC


def _from_dict(data: dict[str, Any]) -> Any:
    return OpenAPI.from_dict(data, config=Config(spec_validator_cls=None))


@functools.cache
def load_spec() -> Any:
    return OpenAPI.from_file_path(str(PAGERDUTY_SPEC), config=Config(spec_validator_cls=None))


@functools.cache
def relaxed_spec() -> Any:
    """PagerDuty's spec with the nulls ``Oncall`` describes (but does not type) allowed."""
    raw: dict[str, Any] = json.loads(PAGERDUTY_SPEC.read_text())
    patched = copy.deepcopy(raw)
    published = raw["components"]["schemas"]["Oncall"]["properties"]
    oncall = patched["components"]["schemas"]["Oncall"]["properties"]
    # Only fields whose own description says they may be null are relaxed.
    for name in ("start", "end"):
        if "If `null`" not in published[name]["description"]:
            raise AssertionError(f"Oncall.{name} no longer describes null; revisit relaxed_spec")
        oncall[name]["nullable"] = True
    # ``schedule`` is a oneOf of two references: null becomes a third, empty alternative.
    if not published["schedule"]["oneOf"]:
        raise AssertionError("Oncall.schedule is no longer a oneOf; revisit relaxed_spec")
    oncall["schedule"]["oneOf"].append({"type": "object", "nullable": True, "maxProperties": 0})
    return _from_dict(patched)


def validate_answer(
    spec: Any, method: str, path: str, status: int, content: bytes, content_type: str
) -> None:
    """Check one answer (``path`` with its ids filled in) against ``spec``; raises if it fails."""
    request = MockRequest("https://api.pagerduty.com", method.lower(), path)
    mock = MockResponse(content, status_code=status, content_type=content_type.split(";")[0])
    spec.validate_response(request, mock)


class Checker:
    """An httpx client on the simulator whose every answer is validated against the spec."""

    def __init__(self, spec: Any, client: httpx.AsyncClient) -> None:
        self.spec = spec
        self.client = client
        self.checked: list[tuple[str, str, int]] = []

    async def call(
        self,
        method: str,
        url: str,
        *,
        expect: int,
        headers: dict[str, str] | None = None,
        **kw: Any,
    ) -> httpx.Response:
        response = await self.client.request(method, url, headers=headers, **kw)
        assert response.status_code == expect, (method, url, response.status_code, response.text)
        parts = urlsplit(str(response.request.url))
        validate_answer(
            self.spec,
            method,
            parts.path,
            response.status_code,
            response.content,
            response.headers.get("content-type", "application/json"),
        )
        self.checked.append((method, parts.path, response.status_code))
        return response

    async def json(self, method: str, url: str, *, expect: int, **kw: Any) -> dict[str, Any]:
        """``call`` and its JSON body."""
        body: dict[str, Any] = (await self.call(method, url, expect=expect, **kw)).json()
        return body
