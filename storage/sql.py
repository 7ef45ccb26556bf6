"""Dialect-aware statements that SQLAlchemy spells differently on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def affected(result: Any) -> int:
    """Rows an INSERT/UPDATE/DELETE touched (`CursorResult.rowcount`, typed loosely by SQLAlchemy)."""
    return int(getattr(result, "rowcount", 0) or 0)


def insert_ignore(session: AsyncSession, table: Any, values: dict[str, Any] | list[dict[str, Any]]) -> Any:
    """`INSERT ... ON CONFLICT DO NOTHING`: the unique constraint decides, with no read-check-write race.
    A list of rows makes one multi-row INSERT (a batch of events claimed in one statement)."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    module: Any = postgresql if dialect == "postgresql" else sqlite
    # The model's Table, not the model: a Core INSERT (the column defaults still apply). Given the model,
    # SQLAlchemy takes its ORM bulk-insert path, which sorts every row's values through the mapper again (about
    # 5% of the front's CPU under load, where each batch claims its events and signs its newcomers up here).
    statement = module.insert(getattr(table, "__table__", table))
    statement = statement.values(values) if isinstance(values, list) else statement.values(**values)
    return statement.on_conflict_do_nothing()
