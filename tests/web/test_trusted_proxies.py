"""The setting that says whose user header the search page believes (issue 18):
``PDSEARCH_TRUSTED_PROXIES``, read like uvicorn's ``--forwarded-allow-ips``."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from pdsearch.config import Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("HOME", "CONFIG", "TRUSTED_PROXIES", "USER_HEADER"):
        monkeypatch.delenv(f"PDSEARCH_{name}", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))


def test_nobody_is_trusted_by_default() -> None:
    settings = Settings()
    assert settings.trusted_proxies == ()
    for peer in ("127.0.0.1", "::1", "10.0.0.5", None, ""):
        assert not settings.trusts_proxy(peer)


def test_addresses_and_networks_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDSEARCH_TRUSTED_PROXIES", "10.0.0.5, 192.168.0.0/16 ::1,fd00::/8")
    settings = Settings()
    assert settings.trusted_proxies == ("10.0.0.5/32", "192.168.0.0/16", "::1/128", "fd00::/8")
    trusted = ("10.0.0.5", "192.168.3.4", "::1", "fd00::17", "::ffff:10.0.0.5", "[::1]")
    for peer in trusted:
        assert settings.trusts_proxy(peer), peer
    for untrusted in ("10.0.0.6", "127.0.0.1", "fe80::1", "testclient", "", None):
        assert not settings.trusts_proxy(untrusted), untrusted


def test_star_trusts_any_address_and_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDSEARCH_TRUSTED_PROXIES", "*")
    settings = Settings()
    assert settings.trusts_proxy("203.0.113.9")
    assert settings.trusts_proxy(None)


def test_a_list_in_the_settings_file(tmp_path: Path) -> None:
    home = tmp_path / "data"
    home.mkdir()
    (home / "config.toml").write_text('trusted_proxies = ["127.0.0.1", "10.1.0.0/16"]\n')
    assert Settings(home=home).trusted_proxies == ("127.0.0.1/32", "10.1.0.0/16")


@pytest.mark.parametrize("value", ["proxy.example.com", "10.0.0.300", "10.0.0.0/33", "**"])
def test_anything_else_is_refused_with_what_to_give(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("PDSEARCH_TRUSTED_PROXIES", value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert "trusted_proxies" in str(caught.value)
    assert "give the SSO proxy's address" in str(caught.value)
