"""What only the SQLite backend promises: its plan, WAL, files, schema version, entity tokens."""

from __future__ import annotations

import gc
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from index_helpers import acl, raw_index, scalar

from pdsearch.index.base import Document
from pdsearch.index.sqlite import (
    SCHEMA_VERSION,
    IndexClosedError,
    IndexSchemaError,
    SqliteIndex,
    SqliteIndexError,
    entity_token,
)


def doc(n: int, title: str, content: str = "", racl: tuple[str, ...] = ("acme",)) -> Document:
    return Document(
        id=f"schedule:P{n}",
        type="schedule",
        title=title,
        content=content,
        url=f"https://acme.pagerduty.com/schedules/P{n}",
        sys_racl=racl,
        source="c1",
    )


@pytest.fixture
def index(tmp_path: Path) -> Iterator[SqliteIndex]:
    ix = SqliteIndex(tmp_path / "index.db")
    yield ix
    ix.close()


def test_query_plan_filters_inside_fts_and_ranks_there(index: SqliteIndex) -> None:
    """Pin the fast form (DESIGN.md 5): one FTS5 scan driven by MATCH with the ORDER BY rank
    consumed by FTS5 (idxNum bit 32), documents fetched by primary key for the page only, no
    sort of our own and no scan of the documents table."""
    index.upsert(doc(i, f"Payments {i}", racl=("acme", f"T{i % 3}")) for i in range(30))
    for plan in index.explain("payments", acl("T1", "team-a")):  # bm25, then the snapshot rank
        assert len(plan) == 2, plan
        m = re.fullmatch(r"SCAN docs_fts VIRTUAL TABLE INDEX (\d+):(\S*)", plan[0])
        assert m, plan
        assert int(m.group(1)) & 32, "FTS5 must do the ORDER BY rank itself"
        # 'r' is the rank function given in the statement, then 'M': the MATCH drives the scan.
        assert re.fullmatch(r"r?M\S*", m.group(2)), "the MATCH must drive the scan"
        assert re.fullmatch(r"SEARCH d USING INTEGER PRIMARY KEY \(rowid=\?\)", plan[1]), plan
        assert not any("TEMP B-TREE" in line or re.search(r"\bSCAN d\b", line) for line in plan)


def test_wal_mode_is_on(index: SqliteIndex, tmp_path: Path) -> None:
    assert index.journal_mode() == "wal"
    index.close()
    with raw_index(tmp_path / "index.db") as other:
        assert scalar(other, "PRAGMA journal_mode") == "wal"


def test_reopening_the_file_keeps_the_data(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "index.db"
    first = SqliteIndex(path)
    first.upsert([doc(1, "Payments", "weekly", ("acme", "team-a"))])
    first.close()
    again = SqliteIndex(str(path))
    try:
        assert again.get("c1", "schedule:P1") == doc(1, "Payments", "weekly", ("acme", "team-a"))
        assert again.search("payments", acl("team-a")).total == 1
    finally:
        again.close()
    with raw_index(path) as raw:
        assert scalar(raw, "PRAGMA user_version") == SCHEMA_VERSION


def test_a_newer_schema_is_refused_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    SqliteIndex(path).close()
    with raw_index(path) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(IndexSchemaError, match="delete the file and sync again"):
        SqliteIndex(path)


def test_a_file_that_is_not_a_database_is_refused_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    path.write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(SqliteIndexError, match="delete it; the next sync rebuilds"):
        SqliteIndex(path)


def test_another_applications_database_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with raw_index(path) as raw:
        raw.execute("CREATE TABLE connectors (id TEXT)")
    with pytest.raises(SqliteIndexError, match="file of its own"):
        SqliteIndex(path)
    with raw_index(path) as raw:
        names = {r[0] for r in raw.execute("SELECT name FROM sqlite_master")}
    assert names == {"connectors"}


def test_memory_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="file path"):
        SqliteIndex(":memory:")


def test_use_after_close_says_so(tmp_path: Path) -> None:
    ix = SqliteIndex(tmp_path / "index.db")
    ix.close()
    with pytest.raises(IndexClosedError, match="closed"):
        ix.search("x", acl("acme"))


def test_entity_tokens_are_opaque_single_tokens() -> None:
    for entity in ["team-a", "a.b@x", "PQ9K7I8", "acme", "ACME", "a b", "ü", ""]:
        token = entity_token("c1", entity)
        assert re.fullmatch(r"e[0-9a-f]{40}", token)
    assert entity_token("c1", "ACME") != entity_token("c1", "acme")
    assert entity_token("c1", "a") != entity_token("c1", "a-b")


def test_typing_an_entity_token_does_not_widen_access(index: SqliteIndex) -> None:
    index.upsert([doc(1, "Secret", "x", ("T9",)), doc(2, "Mine", "y", ("T1",))])
    for query in [
        entity_token("c1", "T9"),
        f'"{entity_token("c1", "T9")}"',
        "acl:" + entity_token("c1", "T9"),
        f'acl : "{entity_token("c1", "T9")}" OR "{entity_token("c1", "T1")}"',
    ]:
        res = index.search(query, acl("T1"))
        assert {h.id for h in res.hits} <= {"schedule:P2"}, query


def test_a_failed_upsert_writes_nothing(index: SqliteIndex) -> None:
    index.upsert([doc(1, "Payments")])
    bad = doc(3, "Bad entity", racl=(42,))  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        index.upsert([doc(2, "Database"), bad])
    assert index.count() == 1
    assert index.get("c1", "schedule:P2") is None
    index.upsert([doc(4, "Still writable")])
    assert index.count() == 2


def test_text_that_is_not_valid_unicode_is_stored_with_replacements(index: SqliteIndex) -> None:
    # Document's own hash refuses such text, so only a caller-supplied hash gets this far.
    bad = Document(
        id="schedule:P1", type="schedule", title="Bad \ud800 title", content="payments \udfff",
        url="u", sys_racl=("team-\ud800",), source="c1", content_hash="h",
    )
    index.upsert([bad])
    got = index.get("c1", "schedule:P1")
    assert got is not None
    assert got.title == "Bad \ufffd title"
    assert got.sys_racl == ("team-\ud800",)
    assert index.search("payments", acl("team-\ud800")).total == 1
    assert index.search("payments", acl("team-")).total == 0


@pytest.mark.timeout(60)
def test_two_handles_on_one_file_read_while_the_other_writes(tmp_path: Path) -> None:
    """Like `pdsearch search` in a shell while `pdsearch serve` syncs: separate connections,
    separate locks; the reader must never see "database is locked"."""
    path = tmp_path / "index.db"
    writer, reader = SqliteIndex(path), SqliteIndex(path)
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        try:
            while not done.is_set():
                reader.search("payments", acl("T1"))
                reader.count()
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=read)
    t.start()
    try:
        for b in range(20):
            writer.upsert(doc(b * 100 + i, f"Payments {i}", "x " * 50, ("T1",)) for i in range(100))
    finally:
        done.set()
        t.join(timeout=30)
        writer.close()
    try:
        assert not errors, errors
        assert reader.search("payments", acl("T1")).total == 2000
    finally:
        reader.close()


def test_connections_of_finished_threads_are_released(index: SqliteIndex) -> None:
    index.upsert([doc(1, "Payments")])

    def search() -> None:
        index.search("payments", acl("acme"))

    for _ in range(20):
        t = threading.Thread(target=search)
        t.start()
        t.join()
    gc.collect()
    assert index.open_connections() <= 2


def test_a_version_1_file_is_upgraded_in_place(tmp_path: Path) -> None:
    """Version 1 had no ``kind`` column; opening such a file rebuilds the FTS table from docs."""
    path = tmp_path / "index.db"
    d = doc(1, "Payments Primary", "weekly rotation", ("acme", "team-a"))
    with raw_index(path) as raw:
        raw.execute(
            """
            CREATE TABLE docs (rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,
                source TEXT NOT NULL, type TEXT NOT NULL, title TEXT NOT NULL,
                content TEXT NOT NULL, url TEXT NOT NULL, sys_racl TEXT NOT NULL,
                content_hash TEXT NOT NULL);
            CREATE VIRTUAL TABLE docs_fts USING fts5(title, content, acl);
            PRAGMA user_version = 1;
            """
        )
        raw.execute(
            "INSERT INTO docs VALUES (7, ?, ?, ?, ?, ?, ?, ?, ?)",
            (d.id, d.source, d.type, d.title, d.content, d.url, '["acme", "team-a"]',
             d.content_hash),
        )
    ix = SqliteIndex(path)
    try:
        assert ix.get(d.source, d.id) == d
        assert [h.id for h in ix.search("payments schedule", acl("team-a")).hits] == [d.id]
        assert ix.search("payments", acl("other")).total == 0
    finally:
        ix.close()
    with raw_index(path) as raw:
        assert scalar(raw, "PRAGMA user_version") == SCHEMA_VERSION == 6


def test_a_version_2_file_is_rebuilt_with_the_3_character_prefix_index(tmp_path: Path) -> None:
    """Version 2 had prefix indexes for 2 and 3 characters; opening it rebuilds the FTS table
    with the 3-character one only, and every kind of query still finds the documents."""
    path = tmp_path / "index.db"
    ix = SqliteIndex(path)
    ix.upsert([doc(1, "Payments Primary", "weekly rotation", ("acme", "team-a")),
               doc(2, "Storage", "daily rotation", ("acme", "team-b"))])
    ix.close()
    with raw_index(path) as raw:  # put the file back into its version 2 layout
        raw.execute("DROP TABLE docs_fts")
        raw.execute(
            "CREATE VIRTUAL TABLE docs_fts USING fts5(title, content, kind, acl, "
            "tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')"
        )
        raw.execute("PRAGMA user_version = 2")
    again = SqliteIndex(path)
    try:
        assert again.search("rot*", acl("team-a")).total == 1
        both = again.search("ro*", acl("team-a", "team-b"))  # 2 characters: no prefix index
        assert {h.id for h in both.hits} == {"schedule:P1", "schedule:P2"}
        assert both.total == 2
        assert again.search('"weekly rotation"', acl("team-a")).total == 1
        assert again.search("payments", acl("team-b")).total == 0
    finally:
        again.close()
    with raw_index(path) as raw:
        assert scalar(raw, "PRAGMA user_version") == SCHEMA_VERSION == 6
        sql = scalar(raw, "SELECT sql FROM sqlite_master WHERE name = 'docs_fts'")
        assert "prefix = '3'" in sql


def test_a_version_4_file_is_rekeyed_by_source_and_its_access_scoped(tmp_path: Path) -> None:
    """Version 4 keyed documents by id alone and its access tokens named the entity alone:
    opening it keeps every document, keys it by (source, id) and scopes access to the source."""
    path = tmp_path / "index.db"
    ix = SqliteIndex(path)
    ix.upsert([doc(1, "Payments Primary", "weekly rotation", ("acme", "team-a")),
               doc(2, "Storage", "daily rotation", ("acme", "team-b"))])
    ix.close()
    with raw_index(path) as raw:  # back into the version 4 layout
        raw.execute(
            """
            DROP INDEX docs_id; DROP INDEX docs_source_title; DROP INDEX docs_title;
            DROP INDEX docs_type;
            CREATE TABLE old (rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,
                source TEXT NOT NULL, type TEXT NOT NULL, title TEXT NOT NULL,
                content TEXT NOT NULL, url TEXT NOT NULL, sys_racl TEXT NOT NULL,
                content_hash TEXT NOT NULL);
            INSERT INTO old SELECT rid, id, source, type, title, content, url, sys_racl,
                content_hash FROM docs;
            DROP TABLE docs; ALTER TABLE old RENAME TO docs;
            CREATE INDEX docs_source_title ON docs (source, title, id);
            DELETE FROM docs_fts;
            PRAGMA user_version = 4;
            """
        )
    again = SqliteIndex(path)
    try:
        assert again.count() == 2
        assert again.get("c1", "schedule:P1") == doc(1, "Payments Primary", "weekly rotation",
                                                     ("acme", "team-a"))
        assert [h.id for h in again.search("payments", acl("team-a")).hits] == ["schedule:P1"]
        assert again.search("payments", acl("team-a", source="c2")).total == 0
        again.upsert([doc(1, "Payments Primary", "weekly", ("acme",))])
        assert again.count() == 2
    finally:
        again.close()
    with raw_index(path) as raw:
        assert scalar(raw, "PRAGMA user_version") == SCHEMA_VERSION == 6


@pytest.mark.parametrize("query", ["payments", "payments zebra", ""])
def test_total_is_the_same_whatever_the_page(index: SqliteIndex, query: str) -> None:
    """The total comes from the page when the page is not full, else from a count: every
    limit and offset (past the end, zero) gives the same total, also when the any-word
    fallback answers ("zebra" is in no document) and for a blank query."""
    index.upsert(doc(i, f"Payments {i}", racl=("acme", f"T{i % 2}")) for i in range(13))
    index.upsert([doc(99, "Storage", racl=("T0",))])
    # T0 holds Payments 0, 2, ..., 12, and Storage, which only the blank query lists.
    expected = 7 if query else 8
    assert len({h.id for h in index.search(query, acl("T0"), limit=100).hits}) == expected
    for limit in (0, 1, 3, 7, 8, 50):
        for offset in (0, 2, 6, 7, 8, 30):
            res = index.search(query, acl("T0"), limit=limit, offset=offset)
            assert res.total == expected, (limit, offset)
            assert len(res.hits) == max(0, min(limit, expected - offset)), (limit, offset)
