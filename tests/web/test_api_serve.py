"""`pdsearch serve`: refuses to start without a token; otherwise serves the API on loopback and
stops cleanly. And the 500 answer: the error shape, no traceback, no secret."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from child_processes import end, pdsearch_command, start
from typer.testing import CliRunner

from pdsearch.cli import app as cli_app
from pdsearch.config import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_refuses_to_start_without_a_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PDSEARCH_API_TOKEN", raising=False)
    result = CliRunner().invoke(cli_app, ["serve", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 1
    out = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "PDSEARCH_API_TOKEN" in out
    assert "export" in out


def test_serve_names_a_bad_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDSEARCH_API_TOKEN", "a-token-long-enough-1234567890")
    monkeypatch.setenv("PDSEARCH_PUBLIC_URL", "not a url")
    result = CliRunner().invoke(cli_app, ["serve", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 1
    out = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "public_url" in out
    assert "a-token-long-enough-1234567890" not in out


def test_serve_runs_the_api_and_stops_cleanly(tmp_path: Path) -> None:
    """Token and port from the settings file in the data directory; SIGINT stops it."""
    port = free_port()
    token = "serve-test-token-abcdefghijklmnop"
    data = tmp_path / "data"
    data.mkdir()
    config = data / "config.toml"
    config.write_text(f'api_token = "{token}"\nport = {port}\n')
    config.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PDSEARCH_")}
    proc = start(  # SIGINT at its default in the child, however the tests were started
        pdsearch_command("serve", "--data-dir", str(data), "--log-level", "info"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the service did not come up"
            time.sleep(0.1)
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{base}/api/v1/connectors", headers=headers).json() == {
            "data": [],
            "total": 0,
        }
        assert httpx.get(f"{base}/api/v1/connectors").status_code == 401
        made = httpx.post(
            f"{base}/api/v1/connectors",
            headers=headers,
            json={"name": "x", "auth": {"type": "api_key", "api_key": "k"}},
        )
        assert made.status_code == 201
        # One-time credentials in URLs stay out of the access log.
        callback = httpx.get(f"{base}/oauth/callback?code=CODE-abc123&state=STATE-xyz789")
        assert callback.status_code == 400
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail("the service did not stop on SIGINT")
        finally:
            end(proc)
    assert proc.returncode == 0, err
    assert token not in out
    assert token not in err
    logs = out + err
    assert "/oauth/callback" in logs  # the access log ran ...
    assert "CODE-abc123" not in logs
    assert "STATE-xyz789" not in logs
    assert (tmp_path / "data" / "state.db").exists()


async def test_unexpected_errors_are_500_in_the_error_shape(
    service: Callable[..., Any], api_settings: Settings, pd_sim: Any
) -> None:
    async with service(api_settings, pd_sim.transport) as (app, _):

        def boom() -> None:
            raise RuntimeError("internal detail with a secret: hunter2")

        app.add_api_route("/api/v1/boom", boom, methods=["GET"])
        assert api_settings.api_token is not None
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://pdsearch.test",
            headers={"Authorization": f"Bearer {api_settings.api_token.get_secret_value()}"},
        ) as client:
            resp = await client.get("/api/v1/boom")
        assert resp.status_code == 500
        assert resp.json()["error"]["code"] == "internal_error"
        assert "hunter2" not in resp.text
        assert "Traceback" not in resp.text
