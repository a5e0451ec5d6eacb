"""The runner's errors. Each message is meant for the person at the terminal.

StackError                   the runner cannot go on
 ├── ConfigError             bad settings, a busy port, another runner
 ├── PostgresError           the embedded cluster failed to set up, start or stop
 │    └── PostgresNotFound   no PostgreSQL server programs on this machine
 └── ChildFailed             a child process failed, died or never became ready

Interrupted                  Ctrl-C or SIGTERM arrived while the runner was waiting
"""


class StackError(Exception):
    """Something the runner cannot recover from; `str()` is shown to the user."""


class ConfigError(StackError):
    """A setting is invalid or the machine is not in a state the stack can use."""


class PostgresError(StackError):
    """The embedded PostgreSQL cluster could not be prepared, started or stopped."""


class PostgresNotFound(PostgresError):
    """The PostgreSQL server programs (initdb, pg_ctl, postgres, psql) are missing."""


class ChildFailed(StackError):
    """A child process exited with an error, died unexpectedly or never became ready."""


class Interrupted(Exception):
    """The runner was asked to stop while it waited; not an error."""
