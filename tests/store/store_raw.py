"""What a store holds at rest, as bytes, on either engine: to check no secret is stored in clear."""

from __future__ import annotations

import psycopg
from psycopg import sql

from pdsearch.store import Store


def raw_state(store: Store, url: str | None = None) -> bytes:
    """Every byte of the SQLite file (and its WAL), or every cell of every table of the
    PostgreSQL schema, binary cells as their bytes (so a hex rendering hides nothing)."""
    if store.path is not None:
        return b"".join(p.read_bytes() for p in sorted(store.path.parent.glob("state.db*")))
    if url is None:
        raise ValueError("a PostgreSQL store needs its URL (with password) to be read")
    out: list[bytes] = []
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = "
            "current_schema()"
        )]
        for table in tables:
            for row in conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table))):
                for cell in row:
                    out.append(bytes(cell) if isinstance(cell, bytes | memoryview)
                               else str(cell).encode())
    return b"\n".join(out)
