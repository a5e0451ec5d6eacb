"""Alembic owns Better Auth's tables: Better Auth must find nothing to change in them.

Better Auth's own migration planner (``getMigrations``, through the front end's
``npm run check:schema``) runs against the database the suite migrated with
Alembic. Any table, column or index it would add, or any structural difference
the script finds, fails this test.
"""

import os
import shutil
import subprocess

from support.paths import FRONTEND
from support.stack import Stack


def test_better_auth_wants_no_change_to_the_alembic_schema(stack: Stack) -> None:
    npm = shutil.which("npm")
    assert npm is not None, "npm is not on PATH"
    result = subprocess.run(
        [npm, "run", "--silent", "check:schema"],
        cwd=FRONTEND,
        env={**os.environ, "DATABASE_URL": stack.database_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
