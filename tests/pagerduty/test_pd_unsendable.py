"""Credentials that cannot be written into an HTTP header (issue 18): a ``ConfigurationError``
at once, naming what to fix, never repeating the secret, never retried as a transport error.

Over real sockets (the simulator on 127.0.0.1), where h11 refuses a header holding a line
break (``LocalProtocolError``) and httpx refuses one holding a non-ASCII character
(``UnicodeEncodeError``) before anything is sent.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from clock import FakeClock
from pd_helpers import API_KEY, CLIENT_ID, CLIENT_SECRET

from pdsearch.pagerduty import (
    ApiKeyAuth,
    ConfigurationError,
    OAuthAuth,
    OAuthToken,
    PagerDutyClient,
)
from pdsearch.pagerduty.auth import header_safe
from pdsearch.simulator.config import SimulatorConfig
from pdsearch.simulator.server import SimulatorServer

SECRET = "SECRETMARKER"


@pytest.fixture(scope="module")
def server() -> Iterator[SimulatorServer]:
    config = SimulatorConfig.for_scale(
        "tiny", api_key=API_KEY, oauth_client_id=CLIENT_ID, oauth_client_secret=CLIENT_SECRET,
        rate_limit=0,
    )
    with SimulatorServer(config) as running:
        yield running


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("y_NbAkKc66ryYTWUXYEu", True),
        ("u+abcDEF_ghi-jkl.mno/pq=~!", True),
        ("kéy", False),
        ("key with space", False),
        ("key\n", False),
        ("tab\tkey", False),
        ("nul\x00", False),
        ("del\x7f", False),
        ("", False),
    ],
)
def test_what_a_header_can_carry(value: str, safe: bool) -> None:
    assert header_safe(value) is safe


@pytest.mark.parametrize("key", [f"{SECRET}kéy", f"{SECRET}a\nb", f"{SECRET} two"])
def test_an_api_key_that_cannot_be_sent_is_refused_before_any_request(key: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        ApiKeyAuth(key)
    assert "printable ASCII" in str(caught.value)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("token", [f"{SECRET}tok\nen", f"{SECRET}tök", f"{SECRET}a\rb"])
async def test_an_oauth_token_that_cannot_be_sent_fails_at_once(
    server: SimulatorServer, token: str
) -> None:
    clock = FakeClock()
    auth = OAuthAuth(
        CLIENT_ID, CLIENT_SECRET, OAuthToken(access_token=token, expires_at=None),
        lambda _token: None, oauth_base_url=server.base_url,
    )
    server.simulator.reset_counters()
    async with PagerDutyClient(auth, base_url=server.base_url, clock=clock) as pd:
        with pytest.raises(ConfigurationError) as caught:
            await pd.get("/users")
        assert pd.retries == 0
    error = caught.value
    assert "OAuth token cannot be sent" in str(error)
    assert "Nothing was sent" in str(error)
    assert clock.slept == []  # no backoff: retrying cannot help
    assert server.simulator.request_count == 0
    # Neither the message nor anything chained to it holds the token (httpx's error quotes
    # the header: it must not ride along as the context).
    assert error.__cause__ is None
    assert error.__context__ is None
    assert SECRET not in str(error)
    assert SECRET not in repr(error.args)
