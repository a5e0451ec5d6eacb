"""Entity tags for tasks, and the ``If-Match`` preconditions that use them.

A task's version is its ``updated_at``, to the microsecond; every change
moves it. The ETag is that instant in microseconds since the epoch, quoted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tandem.errors import AppError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# The last instant a datetime can hold; a larger tag names no version (and would overflow).
_LATEST = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // _MICROSECOND


class PreconditionFailed(AppError):
    status_code = 412
    code = "precondition_failed"
    detail = "The task changed since you read it; fetch it again and reapply your change"


def etag_for(updated_at: datetime) -> str:
    return f'"{(updated_at - _EPOCH) // _MICROSECOND}"'


def versions_matching(if_match: str | None) -> list[datetime] | None:
    """The versions an ``If-Match`` header accepts; ``None`` means "any" (absent or ``*``).

    Weak tags never match (RFC 9110 §13.1.1 uses strong comparison), and a
    malformed tag matches nothing, so the request fails safe with 412. Only
    ASCII digits count: ``str.isdigit`` also accepts ``²`` (a latin-1 header byte).
    """
    if if_match is None or if_match.strip() == "*":
        return None
    versions = []
    for tag in (part.strip() for part in if_match.split(",")):
        digits = tag[1:-1] if len(tag) >= 2 and tag[0] == tag[-1] == '"' else ""
        if digits.isascii() and digits.isdigit() and len(digits) <= 20 and int(digits) <= _LATEST:
            versions.append(_EPOCH + int(digits) * _MICROSECOND)
    return versions
