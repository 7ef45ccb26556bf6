"""Dialect-aware statements that SQLAlchemy spells differently on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def affected(result: Any) -> int:
    """Rows an INSERT/UPDATE/DELETE touched (`CursorResult.rowcount`, typed loosely by SQLAlchemy)."""
    return int(getattr(result, "rowcount", 0) or 0)


async def insert_ignore(
    session: AsyncSession, table: Any, values: dict[str, Any] | list[dict[str, Any]], *, returning: Sequence[Any] = ()
) -> Any:
    """`INSERT ... ON CONFLICT DO NOTHING` (`RETURNING` the given columns of the rows it inserted), executed: the
    unique constraint decides, with no read-check-write race. A list of rows (each with the same keys) goes in one
    statement: SQLAlchemy's "insertmanyvalues" writes one multi-row INSERT for them (a batch of events claimed at
    once)."""
    rows = values if isinstance(values, list) else [values]
    statement = _insert_ignore_statement(session, getattr(table, "__table__", table), tuple(rows[0]), tuple(returning))
    return await session.execute(statement, values)


# Built once per dialect, table, columns and RETURNING, the values as bound parameters. An INSERT with its rows'
# values written in (`.values([...])`) has no cache key: SQLAlchemy compiled it again on every batch, and a
# statement built anew each time costs more than running it (bench/RESULTS.md, issue #17).
_INSERT_IGNORE: dict[tuple[str, str, tuple[str, ...], tuple[str, ...]], Any] = {}


def _insert_ignore_statement(
    session: AsyncSession, table: Any, columns: tuple[str, ...], returning: tuple[Any, ...]
) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    key = (dialect, table.name, columns, tuple(str(c) for c in returning))
    statement = _INSERT_IGNORE.get(key)
    if statement is None:
        module: Any = postgresql if dialect == "postgresql" else sqlite
        # The model's Table, not the model: a Core INSERT (the column defaults still apply). Given the model,
        # SQLAlchemy takes its ORM bulk-insert path, which sorts every row's values through the mapper again.
        statement = module.insert(table).values({c: bindparam(c) for c in columns}).on_conflict_do_nothing()
        if returning:
            statement = statement.returning(*returning)
        _INSERT_IGNORE[key] = statement
    return statement
