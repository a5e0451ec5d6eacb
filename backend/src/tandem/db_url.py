"""Database URLs as operators write them, turned into SQLAlchemy's asyncpg form."""

from sqlalchemy.engine import make_url


def async_driver_url(url: str) -> str:
    """``postgres(ql)://…`` → ``postgresql+asyncpg://…``, password kept."""
    return _with_driver(url, "postgresql+asyncpg")


def libpq_url(url: str) -> str:
    """The plain ``postgresql://…`` form that asyncpg's own ``connect`` takes."""
    return _with_driver(url, "postgresql")


def _with_driver(url: str, driver: str) -> str:
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    return parsed.set(drivername=driver).render_as_string(hide_password=False)
