"""Backends the index contract suite runs against.

Each entry of ``BACKENDS`` opens a fresh, empty index of one backend for a test and closes it
afterwards (a context manager, given the test's request and an empty directory of its own).
Every test in ``test_index_contract.py`` runs against each entry. OpenSearch's indexes come
from a pool (``opensearch_pool.py``) on the session's node (the ``opensearch_url`` fixture).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from opensearch_pool import IndexPool

from pdsearch.index.base import SearchIndex
from pdsearch.index.sqlite import SqliteIndex


@contextlib.contextmanager
def _sqlite(request: pytest.FixtureRequest, directory: Path) -> Iterator[SearchIndex]:
    index = SqliteIndex(directory / "index.db")
    try:
        yield index
    finally:
        index.close()


@contextlib.contextmanager
def _opensearch(request: pytest.FixtureRequest, directory: Path) -> Iterator[SearchIndex]:
    pool: IndexPool = request.getfixturevalue("opensearch_pool")
    with pool.index() as index:
        yield index


Backend = Callable[[pytest.FixtureRequest, Path], contextlib.AbstractContextManager[SearchIndex]]

BACKENDS: dict[str, Backend] = {
    "sqlite": _sqlite,
    "opensearch": _opensearch,
}

IndexFactory = Callable[[], SearchIndex]


@pytest.fixture(scope="session")
def opensearch_pool(opensearch_url: str) -> Iterator[IndexPool]:
    pool = IndexPool(opensearch_url)
    yield pool
    pool.close()


@pytest.fixture(params=sorted(BACKENDS))
def index_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[IndexFactory]:
    """Makes fresh, empty indexes of one backend; closes them after the test."""
    with contextlib.ExitStack() as stack:
        made: list[SearchIndex] = []

        def make() -> SearchIndex:
            directory = tmp_path / f"{request.param}-{len(made)}"
            directory.mkdir()
            index = stack.enter_context(BACKENDS[request.param](request, directory))
            made.append(index)
            return index

        yield make


@pytest.fixture
def index(index_factory: IndexFactory) -> SearchIndex:
    return index_factory()
