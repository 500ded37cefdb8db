"""Backends the index contract suite runs against.

A new backend (OpenSearch) adds an entry to ``BACKENDS``: a function from a fresh, empty
directory to an empty index. Every test in ``test_contract.py`` then runs against it too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pdsearch.index.base import SearchIndex
from pdsearch.index.sqlite import SqliteIndex

BACKENDS: dict[str, Callable[[Path], SearchIndex]] = {
    "sqlite": lambda directory: SqliteIndex(directory / "index.db"),
}

IndexFactory = Callable[[], SearchIndex]


@pytest.fixture(params=sorted(BACKENDS))
def index_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[IndexFactory]:
    """Makes fresh, empty indexes of one backend; closes them after the test."""
    made: list[SearchIndex] = []

    def make() -> SearchIndex:
        directory = tmp_path / f"{request.param}-{len(made)}"
        directory.mkdir()
        index = BACKENDS[request.param](directory)
        made.append(index)
        return index

    yield make
    for index in made:
        index.close()


@pytest.fixture
def index(index_factory: IndexFactory) -> SearchIndex:
    return index_factory()
