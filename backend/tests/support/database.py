"""A throwaway PostgreSQL migrated with Alembic, as the API will see it in production."""

from __future__ import annotations

import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

BACKEND_DIR = Path(__file__).resolve().parents[2]
OWNER = "tandem_owner"
DATABASE = "tandem"


@dataclass(frozen=True)
class MigratedDatabase:
    owner_url: str  # the schema owner: what DATABASE_URL holds in production
    superuser_url: str  # bypasses RLS: tests use it only to inspect and arrange rows


def migrate(database_url: str, revision: str = "head", *, command: str = "upgrade") -> None:
    subprocess.run(
        ["alembic", "-c", str(BACKEND_DIR / "alembic.ini"), command, revision],
        env={**os.environ, "DATABASE_URL": database_url},
        check=True,
        capture_output=True,
    )


def new_owner_password() -> str:
    return secrets.token_urlsafe(24)
