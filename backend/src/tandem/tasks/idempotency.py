"""Idempotent task creation: one key, one task, whatever the retries.

The key is claimed in the same transaction that creates the task. A
concurrent retry blocks on the claim until the first request commits, then
replays its stored response; if the first request rolled back, the retry
finds no claim and creates the task itself. Either the task and its key both
exist, or neither does. Keys are per user and count for 24 hours.

The API's role may insert and delete keys but not update them (least
privilege, migration 0003), so the response is recorded by replacing the
claim with a complete row, still inside the claiming transaction. When the
task is deleted, its stored response is replaced the same way by a bodiless
404: a retry then learns the task is gone, and the deleted text is not kept.
Expired keys are purged by ``purge_expired`` (migration 0006).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.errors import AppError

_VALID_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as most clients send UUIDs

_CLAIM = text(
    """
    INSERT INTO idempotency_key (user_id, key, request_hash, response_status, response_body)
    VALUES (:user_id, :key, :request_hash, 0, 'null')
    ON CONFLICT (user_id, key) DO NOTHING
    RETURNING 1
    """
)
# Keys count for 24 hours; an older claim is dropped before a new one is tried.
_EXPIRE = text(
    """
    DELETE FROM idempotency_key
    WHERE user_id = :user_id AND key = :key AND created_at < now() - interval '24 hours'
    """
)
_FIND = text(
    "SELECT request_hash, response_status, response_body FROM idempotency_key "
    "WHERE user_id = :user_id AND key = :key"
)
_RELEASE_CLAIM = text(
    "DELETE FROM idempotency_key WHERE user_id = :user_id AND key = :key RETURNING request_hash"
)
_RECORD = text(
    "INSERT INTO idempotency_key (user_id, key, request_hash, response_status, response_body) "
    "VALUES (:user_id, :key, :request_hash, :status, CAST(:body AS jsonb))"
)
# The keys whose stored response is the given task, deleted and re-recorded as a bare 404.
_FORGET_TASK = text(
    """
    WITH forgotten AS (
        DELETE FROM idempotency_key
        WHERE user_id = :user_id AND response_status = 201 AND response_body->>'id' = :task_id
        RETURNING user_id, key, request_hash, created_at
    )
    INSERT INTO idempotency_key
        (user_id, key, request_hash, response_status, response_body, created_at)
    SELECT user_id, key, request_hash, 404, 'null', created_at FROM forgotten
    """
)


class InvalidIdempotencyKey(AppError):
    status_code = 422
    code = "invalid_idempotency_key"
    detail = "Idempotency-Key must be 1 to 255 visible ASCII characters"


class IdempotencyKeyReused(AppError):
    status_code = 422
    code = "idempotency_key_reused"
    detail = "This Idempotency-Key was already used with a different request body"


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    body: Any


def request_fingerprint(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def claim(
    session: AsyncSession, *, user_id: str, key: str, request_hash: str
) -> StoredResponse | None:
    """Claim ``key`` for this request, or return the response of the request that owns it."""
    if not _VALID_KEY.fullmatch(key):
        raise InvalidIdempotencyKey()
    params = {"user_id": user_id, "key": key}
    await session.execute(_EXPIRE, params)
    if await session.scalar(_CLAIM, {**params, "request_hash": request_hash}):
        return None
    stored_hash, status_code, body = (await session.execute(_FIND, params)).one()
    if stored_hash != request_hash:
        raise IdempotencyKeyReused()
    return StoredResponse(status_code=status_code, body=body)


async def record(
    session: AsyncSession, *, user_id: str, key: str, status_code: int, body: Any
) -> None:
    """Store the response a claimed key will replay; commits with the task.

    Waiters blocked on the claim see only the committed, complete row: the
    placeholder is deleted and replaced by the same transaction.
    """
    params = {"user_id": user_id, "key": key}
    request_hash = (await session.execute(_RELEASE_CLAIM, params)).scalar_one()
    await session.execute(
        _RECORD,
        {**params, "request_hash": request_hash, "status": status_code, "body": json.dumps(body)},
    )


async def forget_task(session: AsyncSession, *, user_id: str, task_id: str) -> None:
    """Drop the stored response of a deleted task: a retry of its key then gets 404."""
    await session.execute(_FORGET_TASK, {"user_id": user_id, "task_id": task_id})
