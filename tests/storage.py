"""What a server has stored, read straight from its database (SQLite file or PostgreSQL):
tests compare snapshots to prove that refused input changed nothing."""

import sqlite3
from typing import Any

QUERIES = {
    "sessions": "SELECT id, title, planned_start, agenda, roster, settings, presets, status, "
    "last_seq FROM sessions ORDER BY id",
    "participants": "SELECT id, session_id, role, name, token_hash FROM participants ORDER BY id",
    "events": "SELECT session_id, seq, id, kind, body, author_name FROM events "
    "ORDER BY session_id, seq",
}


async def snapshot(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the three tables, in a stable order."""
    if database_url.startswith("sqlite"):
        path = database_url.split(":///", 1)[1]
        conn = sqlite3.connect(path, timeout=30)
        try:
            return {table: [tuple(row) for row in conn.execute(q)] for table, q in QUERIES.items()}
        finally:
            conn.close()
    import asyncpg

    pg = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        return {
            table: [tuple(row.values()) for row in await pg.fetch(q)]
            for table, q in QUERIES.items()
        }
    finally:
        await pg.close()


async def count(database_url: str, table: str) -> int:
    return len((await snapshot(database_url))[table])
