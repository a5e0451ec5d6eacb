"""Revocation for services that share Better Auth's PostgreSQL database.

Install with the ``postgres`` extra: ``pip install "tandem-auth[postgres]"``.

    sessions = PostgresSessionCheck(os.environ["DATABASE_URL"])
    auth = BearerAuth.from_env(sessions=sessions)

Run ``install_session_trigger`` (or ``session_trigger_statements`` from a
migration) once, as the owner of Better Auth's tables, so that every process
hears of an ended session at once.
"""

from tandem_auth.postgres.check import PostgresSessionCheck, SessionLookup, live_until_query
from tandem_auth.postgres.live_sessions import LiveSessionCache
from tandem_auth.postgres.schema import DEFAULT_CHANNEL, BetterAuthTables
from tandem_auth.postgres.trigger import (
    drop_session_trigger_statements,
    install_session_trigger,
    session_trigger_statements,
)

__all__ = [
    "DEFAULT_CHANNEL",
    "BetterAuthTables",
    "LiveSessionCache",
    "PostgresSessionCheck",
    "SessionLookup",
    "drop_session_trigger_statements",
    "install_session_trigger",
    "live_until_query",
    "session_trigger_statements",
]
