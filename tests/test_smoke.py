from typer.testing import CliRunner

from pdsearch.cli import app
from pdsearch.index import Document
from pdsearch.pagerduty.models import Reference


def test_version_command_prints_version() -> None:
    result = CliRunner().invoke(app, ["version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == "0.1.0"


def test_reference_reads_self_alias() -> None:
    ref = Reference.model_validate({"id": "P1", "self": "https://api.pagerduty.com/users/P1"})
    assert ref.self_url == "https://api.pagerduty.com/users/P1"


def test_document_refuses_empty_racl() -> None:
    import pytest

    with pytest.raises(ValueError, match="empty sys_racl"):
        Document("schedule:P1", "schedule", "t", "c", "u", (), "conn")
