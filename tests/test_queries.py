"""queries/: what the store layer is built on."""

from __future__ import annotations

import re

import aiosql
import pytest

from chaat import db

QUERY_FILES = sorted(db.QUERIES.rglob("*.sql"))
HEADER = re.compile(r"^-- name: ([A-Za-z_]\w*)", re.MULTILINE)


def test_the_query_files_are_found():
    # Otherwise the parametrized tests below would pass by running zero times.
    assert db.QUERIES / "users" / "create.sql" in QUERY_FILES


@pytest.mark.parametrize("path", QUERY_FILES, ids=lambda p: str(p.relative_to(db.QUERIES)))
def test_each_query_file_holds_one_query_named_after_the_file(path):
    # aiosql lets a later query silently replace an earlier one of the same name,
    # so file name == query name is what keeps two files from colliding.
    assert path.parent.parent == db.QUERIES, "queries/<table>/<name>.sql"
    text = path.read_text()
    assert HEADER.findall(text) == [path.stem]
    first, second = text.splitlines()[:2]
    assert first.startswith("-- name: ")
    assert second.startswith("-- "), "a second line saying why"
    assert len(second.strip()) > 5, "a second line saying why"
    assert hasattr(aiosql.from_str(text, "asyncpg"), path.stem)


def test_the_loaded_queries_are_exactly_the_files():
    for path in QUERY_FILES:
        loaded = getattr(getattr(db.queries, path.parent.name), path.stem)
        own = getattr(aiosql.from_str(path.read_text(), "asyncpg"), path.stem)
        assert loaded.sql == own.sql, path


async def test_every_query_is_valid_sql_for_the_schema(conn):
    for path in QUERY_FILES:
        query = getattr(getattr(db.queries, path.parent.name), path.stem)
        try:
            await conn.prepare(query.sql)
        except Exception as exc:
            pytest.fail(f"{path.relative_to(db.QUERIES)}: {exc}")
