"""Choosing the index from the settings: ``PDSEARCH_INDEX_*`` and ``open_index``, then the
service and the command line on an OpenSearch index (a sync through one, a search through the
other)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opensearch_pool import unique_prefix
from pydantic import SecretStr, ValidationError
from typer.testing import CliRunner

from pdsearch.cli import app
from pdsearch.config import Settings
from pdsearch.index.errors import IndexSettingsError
from pdsearch.index.factory import backend_of, open_index
from pdsearch.index.opensearch import OpenSearchIndex
from pdsearch.index.sqlite import SqliteIndex


@pytest.fixture(autouse=True)
def _no_index_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("URL", "USERNAME", "PASSWORD", "CA_CERTS", "VERIFY_CERTS", "PREFIX"):
        monkeypatch.delenv(f"PDSEARCH_INDEX_{name}", raising=False)
    monkeypatch.delenv("PDSEARCH_CONFIG", raising=False)


def test_the_default_is_the_sqlite_file_in_the_data_directory(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    assert settings.index_url is None
    assert settings.index_prefix == "pdsearch"
    index = open_index(settings)
    try:
        assert isinstance(index, SqliteIndex)
        assert index.path == settings.index_path
    finally:
        index.close()


def test_index_settings_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("PDSEARCH_INDEX_URL", "https://search.example.com:9200/")
    monkeypatch.setenv("PDSEARCH_INDEX_USERNAME", "pdsearch")
    monkeypatch.setenv("PDSEARCH_INDEX_PASSWORD", "s3cret-index-pw")
    monkeypatch.setenv("PDSEARCH_INDEX_CA_CERTS", str(ca))
    monkeypatch.setenv("PDSEARCH_INDEX_VERIFY_CERTS", "false")
    monkeypatch.setenv("PDSEARCH_INDEX_PREFIX", "acme-prod")
    settings = Settings(home=tmp_path)
    assert settings.index_url == "https://search.example.com:9200"
    assert settings.index_username == "pdsearch"
    assert settings.index_password == SecretStr("s3cret-index-pw")
    assert settings.index_ca_certs == ca
    assert settings.index_verify_certs is False
    assert settings.index_prefix == "acme-prod"
    assert "s3cret-index-pw" not in repr(settings)
    assert "s3cret-index-pw" not in str(settings)
    assert backend_of(settings.index_url) == "opensearch"


def test_a_settings_file_names_the_ca_file_relative_to_itself(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.pem").write_text("x")
    config = tmp_path / "config.toml"
    config.write_text('index_url = "http://127.0.0.1:9200"\nindex_ca_certs = "certs/ca.pem"\n')
    monkeypatch.setenv("PDSEARCH_CONFIG", str(config))
    assert Settings(home=tmp_path).index_ca_certs == tmp_path / "certs" / "ca.pem"


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("index_url", "ftp://search.example.com", "must be empty"),
        ("index_url", "search.example.com:9200", "must be empty"),
        ("index_url", "https://pdsearch:s3cret-index-pw@search.example.com", "credentials"),
        ("index_prefix", "Acme Prod", "lower-case"),
        ("index_ca_certs", "/no/such/ca.pem", "not a file"),
    ],
)
def test_bad_index_settings_are_refused_without_echoing_them(
    tmp_path: Path, field: str, value: str, said: str
) -> None:
    given: dict[str, Any] = {"home": tmp_path, field: value}
    with pytest.raises(ValidationError) as caught:
        Settings(**given)
    assert field in str(caught.value)
    assert said in str(caught.value)
    assert "s3cret-index-pw" not in str(caught.value)


def test_an_unknown_kind_of_index_url_is_refused() -> None:
    with pytest.raises(IndexSettingsError, match="PDSEARCH_INDEX_URL"):
        backend_of("postgresql://db/pdsearch")


@pytest.fixture
def os_settings(
    api_settings: Settings, opensearch_url: str
) -> Iterator[Settings]:
    """The service's test settings, with the index on the session's OpenSearch node under a
    prefix of this test's own (dropped afterwards)."""
    settings = api_settings.model_copy(
        update={"index_url": opensearch_url, "index_prefix": unique_prefix("factory")}
    )
    yield settings
    with OpenSearchIndex(opensearch_url, prefix=settings.index_prefix) as index:
        index.drop()


async def test_the_service_syncs_into_opensearch_and_the_cli_searches_it(
    os_settings: Settings,
    service: Callable[..., Any],
    pd_sim: Any,
    job_waiter: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    index = open_index(os_settings)
    try:
        assert isinstance(index, OpenSearchIndex)
        assert index.alias == f"{os_settings.index_prefix}-docs"
    finally:
        index.close()
    admin = next(u["email"] for u in pd_sim.simulator.account.users.values()
                 if u.get("role") in ("owner", "admin"))
    async with service(os_settings, pd_sim.transport) as (app_, client):
        assert isinstance(app_.state.services.index, OpenSearchIndex)
        created = await client.post("/api/v1/connectors", json={
            "name": "Acme", "auth": {"type": "api_key", "api_key": pd_sim.api_key},
            "base_url": pd_sim.base_url,
        })
        cid = created.json()["id"]
        job_id = (await client.post(f"/api/v1/connectors/{cid}/sync")).json()["job_id"]
        job = await job_waiter(client, job_id)
        assert job["status"] == "succeeded", job
        documents = len(pd_sim.simulator.account.schedules) + len(
            pd_sim.simulator.account.escalation_policies)
        found = await client.post("/api/v1/search", json={"query": "", "user": admin,
                                                          "limit": 100})
        assert found.status_code == 200
        assert found.json()["total"] == documents
        listed = await client.get(f"/api/v1/connectors/{cid}/documents")
        assert listed.json()["total"] == documents

    # The command line, pointed at the same data directory and index, reads what the service
    # wrote.
    monkeypatch.setenv("PDSEARCH_INDEX_URL", str(os_settings.index_url))
    monkeypatch.setenv("PDSEARCH_INDEX_PREFIX", os_settings.index_prefix)
    result = CliRunner().invoke(app, ["search", "", "--user", admin, "--json", "--limit", "100",
                                      "--data-dir", str(os_settings.home)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["total"] == documents


def test_the_cli_says_when_opensearch_does_not_answer(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    runner = CliRunner()
    added = runner.invoke(app, ["connector", "add", "acme", "--api-key", "-",
                                "--data-dir", str(home)], input="pd-key\n")
    assert added.exit_code == 0, added.output
    monkeypatch.setenv("PDSEARCH_INDEX_URL", "http://127.0.0.1:9")  # discard: nothing answers
    monkeypatch.setenv("PDSEARCH_INDEX_PASSWORD", "s3cret-index-pw")
    monkeypatch.setenv("PDSEARCH_INDEX_USERNAME", "pdsearch")
    result = runner.invoke(app, ["search", "x", "--user", "a@b.co", "--data-dir", str(home)])
    assert result.exit_code == 1
    assert "OpenSearch at http://127.0.0.1:9 did not answer" in result.output
    assert "Traceback" not in result.output
    assert "s3cret-index-pw" not in result.output
