r"""The rules for text fields of the API's requests, one place for the check and its schema.

The OpenAPI description says exactly what is accepted, because clients (and fuzzers) are
generated from it: a length limit counts the characters as sent (text is trimmed only after it
is checked), "not blank" is a pattern, and the patterns spell their character classes out
(``[^ \t\r\n]`` rather than ``\S``, whose meaning differs between regex engines). Each
validator matches its pattern whole (``fullmatch``), as JSON Schema reads an anchored pattern.
"""

from __future__ import annotations

import re
from typing import Annotated, Final

from pydantic import AfterValidator, Field, SecretStr
from pydantic.config import JsonDict

from pdsearch.pagerduty.auth import HEADER_SAFE_RULE, header_safe

MAX_CREDENTIAL_LENGTH = 500

#: What the server trims from the ends of text: ASCII spaces, tabs and line breaks.
_TRIM: Final = " \t\r\n"
#: "Not blank" as a JSON Schema pattern: at least one character that is not trimmed.
NOT_BLANK_PATTERN: Final = r"[^ \t\r\n]"
#: A credential as a JSON Schema pattern (``pagerduty.auth.HEADER_SAFE``).
CREDENTIAL_PATTERN: Final = r"^[!-~]+$"
#: An e-mail address as the entity API takes it: something@something, no spaces or controls.
EMAIL_PATTERN: Final = r"^[^@\x00-\x20\x7f]+@[^@\x00-\x20\x7f]+$"
_EMAIL: Final = re.compile(EMAIL_PATTERN)


def _trimmed(value: str) -> str:
    return value.strip(_TRIM)


def _not_blank(value: str) -> str:
    value = _trimmed(value)
    if not value:
        raise ValueError("must not be blank")
    return value


def _credential(value: SecretStr) -> SecretStr:
    if not header_safe(value.get_secret_value()):
        # The value itself never goes into the message.
        raise ValueError(HEADER_SAFE_RULE)
    return value


def client_id_rule(value: str) -> str:
    """The OAuth client id (plain text, not a secret) follows the credential rule too."""
    if not header_safe(value):
        raise ValueError(HEADER_SAFE_RULE)
    return value


#: Trimmed after the length check, so a limit counts the characters as sent.
Trimmed = AfterValidator(_trimmed)
#: Trimmed, then refused when nothing is left; pair with ``NOT_BLANK`` in the field's schema.
NotBlank = AfterValidator(_not_blank)
NOT_BLANK: Final[JsonDict] = {"pattern": NOT_BLANK_PATTERN}


#: A secret that goes into an HTTP header (API key, client secret): sent exactly as given.
Credential = Annotated[
    SecretStr,
    Field(
        min_length=1,
        max_length=MAX_CREDENTIAL_LENGTH,
        json_schema_extra={"pattern": CREDENTIAL_PATTERN},
    ),
    AfterValidator(_credential),
]


# A connector name is shown in tables, pages and terminals, so the store refuses control
# characters (C0, DEL, C1) and text-direction overrides in it, and trims Unicode spaces. As a
# pattern: trimmed ASCII spaces around a body that starts and ends with a visible character and
# holds no control character.
_CONTROLS: Final = r"\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
_SPACES: Final = r"\x20\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NAME_PATTERN: Final = (
    rf"^[\t\n\r ]*[^{_CONTROLS}{_SPACES}]"
    rf"(?:[^{_CONTROLS}]*[^{_CONTROLS}{_SPACES}])?[\t\n\r ]*$"
)
_NAME: Final = re.compile(NAME_PATTERN)
_CONTROL: Final = re.compile(f"[{_CONTROLS}]")


def _connector_name(value: str) -> str:
    if _NAME.fullmatch(value):
        return _trimmed(value)
    if not _trimmed(value):
        raise ValueError("must not be blank")
    if _CONTROL.search(_trimmed(value)):
        raise ValueError(
            "must not contain control characters (tabs or line breaks inside it, NUL, escape "
            "sequences, text-direction overrides)"
        )
    raise ValueError("must start and end with a visible character, not a space")


ConnectorName = Annotated[
    str,
    Field(min_length=1, max_length=200, json_schema_extra={"pattern": NAME_PATTERN}),
    AfterValidator(_connector_name),
]


Email = Annotated[
    str, Field(min_length=3, max_length=320, json_schema_extra={"pattern": EMAIL_PATTERN})
]


def check_email(value: str) -> bool:
    """True for an address ``EMAIL_PATTERN`` accepts."""
    return _EMAIL.fullmatch(value) is not None
