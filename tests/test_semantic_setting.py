"""PDSEARCH_SEMANTIC: on by default, off and on again by environment, settings file or option."""

from __future__ import annotations

from pathlib import Path

import pytest

from pdsearch.config import Settings
from pdsearch.search import load_embedder
from pdsearch.semantic import Embedder


@pytest.mark.parametrize(("value", "expected"), [
    ("off", False), ("on", True), ("false", False), ("0", False), ("true", True), ("ON", True),
])
def test_the_environment_turns_it_off_and_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                            value: str, expected: bool) -> None:
    monkeypatch.setenv("PDSEARCH_SEMANTIC", value)
    assert Settings(home=tmp_path).semantic is expected


def test_on_by_default_and_in_the_settings_file(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    monkeypatch.delenv("PDSEARCH_SEMANTIC", raising=False)
    monkeypatch.delenv("PDSEARCH_CONFIG", raising=False)
    assert Settings(home=tmp_path).semantic is True
    (tmp_path / "config.toml").write_text('semantic = "off"\n')
    assert Settings(home=tmp_path).semantic is False
    assert Settings.load(tmp_path, semantic=True).semantic is True  # the option wins


def test_a_bad_value_is_refused_without_echoing_it(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    monkeypatch.setenv("PDSEARCH_SEMANTIC", "maybe-secret")
    with pytest.raises(ValueError, match="semantic") as caught:
        Settings(home=tmp_path)
    assert "maybe-secret" not in str(caught.value)


def test_the_model_is_loaded_only_when_on() -> None:
    assert load_embedder(False) is None
    assert load_embedder(True) is Embedder.load()
