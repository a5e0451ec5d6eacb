"""Database URLs as operators write them, turned into SQLAlchemy's asyncpg form."""

from sqlalchemy.engine import make_url


def async_driver_url(url: str) -> str:
    """``postgres(ql)://…`` → ``postgresql+asyncpg://…``, password kept."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
