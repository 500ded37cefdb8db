"""Helpers the account tests share: spec schema checks and request bodies."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from openapi_schema_validator import OAS30ReadValidator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4
from spec_paths import PAGERDUTY_SPEC

Validate = Callable[[str, Any], list[str]]


@functools.cache
def schema_validator() -> Validate:
    """``validate(schema_name, obj)`` -> error messages, against the spec's component schemas."""
    spec = json.loads(PAGERDUTY_SPEC.read_text())
    registry = Registry().with_resource(
        "urn:pd", Resource.from_contents(spec, default_specification=DRAFT4)
    )
    validators: dict[str, Any] = {}

    def run(schema: str, obj: Any) -> list[str]:
        if schema not in validators:
            validators[schema] = OAS30ReadValidator(
                {"$ref": f"urn:pd#/components/schemas/{schema}"}, registry=registry
            )
        return [
            f"{list(e.absolute_path)}: {e.message}" for e in validators[schema].iter_errors(obj)
        ]

    return run


def v2_layer(user_ids: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "name": "Layer 1",
        "start": "2025-01-06T09:00:00+01:00",
        "rotation_virtual_start": "2025-01-06T09:00:00+01:00",
        "rotation_turn_length_seconds": 604800,
        "users": [{"user": {"id": u, "type": "user_reference"}} for u in user_ids],
        **extra,
    }


def policy_body(name: str, targets: list[dict[str, str]], **extra: Any) -> dict[str, Any]:
    return {
        "type": "escalation_policy",
        "name": name,
        "escalation_rules": [{"escalation_delay_in_minutes": 30, "targets": targets}],
        **extra,
    }
