"""The unprivileged account PostgreSQL runs as when the runner is root.

initdb and postgres refuse to run as root, so a root runner uses the `postgres` account
when it exists and otherwise creates a `tandem` system account.
"""

import logging
import os
import pwd
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tandem_stack.errors import PostgresError

PREFERRED = "postgres"
FALLBACK = "tandem"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceUser:
    """An account to drop to; its uid, primary gid and all its group ids."""

    name: str
    uid: int
    gid: int
    groups: frozenset[int]

    @classmethod
    def from_passwd(cls, entry: pwd.struct_passwd) -> "ServiceUser":
        groups = os.getgrouplist(entry.pw_name, entry.pw_gid)
        return cls(entry.pw_name, entry.pw_uid, entry.pw_gid, frozenset(groups))

    def chown(self, path: Path) -> None:
        os.chown(path, self.uid, self.gid)

    def check_can_reach(self, path: Path) -> None:
        """Fail clearly when a parent directory denies this user the search permission."""
        for directory in reversed(path.parents):
            info = directory.stat()
            if info.st_uid == self.uid:
                allowed = info.st_mode & stat.S_IXUSR
            elif info.st_gid in self.groups:
                allowed = info.st_mode & stat.S_IXGRP
            else:
                allowed = info.st_mode & stat.S_IXOTH
            if not allowed:
                raise PostgresError(
                    f"PostgreSQL runs as the user {self.name!r}, which cannot enter {directory}; "
                    f"allow it (chmod o+x {directory}), move the checkout, or set DATABASE_URL"
                )


def _create_system_user(name: str) -> None:
    useradd = shutil.which("useradd")
    if useradd is None:
        raise PostgresError(
            f"running as root and no {PREFERRED!r} or {name!r} account exists; "
            f"create an unprivileged account named {name!r} (useradd is not available)"
        )
    log.info("creating the system user %r to run PostgreSQL", name)
    result = subprocess.run(
        [
            useradd,
            "--system",
            "--user-group",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            name,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if result.returncode != 0:
        raise PostgresError(f"useradd {name} failed: {result.stderr.strip()}")


def service_user() -> ServiceUser | None:
    """The account to run PostgreSQL as, or None to run it as the current user."""
    if os.geteuid() != 0:
        return None
    for name in (PREFERRED, FALLBACK):
        try:
            return ServiceUser.from_passwd(pwd.getpwnam(name))
        except KeyError:
            continue
    _create_system_user(FALLBACK)
    return ServiceUser.from_passwd(pwd.getpwnam(FALLBACK))
