"""SQLAlchemy Core statements, compiled once for the driver: SQL text and its parameter order.

The table's metadata (``models.py``) stays the source of the schema; each
statement is built from it with Core and compiled with the asyncpg dialect
the first time it is needed. Every value is a bind parameter (``$1``, ``$2``,
…); nothing a client sends is ever formatted into SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

_DIALECT: Final = asyncpg_dialect()  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class Compiled:
    """A statement's SQL and the names of its parameters, in ``$n`` order."""

    sql: str
    names: tuple[str, ...]

    def args(self, **values: Any) -> tuple[Any, ...]:
        return tuple(values[name] for name in self.names)


def compile_statement(statement: ClauseElement) -> Compiled:
    compiled = statement.compile(dialect=_DIALECT)
    assert isinstance(compiled, SQLCompiler)  # a positional dialect: $1, $2, …
    return Compiled(str(compiled), tuple(compiled.positiontup or ()))
