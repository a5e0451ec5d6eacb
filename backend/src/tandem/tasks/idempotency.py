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

import asyncpg

from tandem.errors import AppError

_VALID_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as most clients send UUIDs

# Constant SQL: $1 is always the user, $2 the key.
_CLAIM = """
    INSERT INTO idempotency_key (user_id, key, request_hash, response_status, response_body)
    VALUES ($1, $2, $3, 0, 'null')
    ON CONFLICT (user_id, key) DO NOTHING
    RETURNING 1
"""
# Keys count for 24 hours; an older claim is dropped before a new one is tried.
_EXPIRE = """
    DELETE FROM idempotency_key
    WHERE user_id = $1 AND key = $2 AND created_at < now() - interval '24 hours'
"""
_FIND = (
    "SELECT request_hash, response_status, response_body::text FROM idempotency_key "
    "WHERE user_id = $1 AND key = $2"
)
_RELEASE_CLAIM = (
    "DELETE FROM idempotency_key WHERE user_id = $1 AND key = $2 RETURNING request_hash"
)
_RECORD = (
    "INSERT INTO idempotency_key (user_id, key, request_hash, response_status, response_body) "
    "VALUES ($1, $2, $3, $4, CAST($5 AS text)::jsonb)"
)
# The keys whose stored response is the given task, deleted and re-recorded as a bare 404.
_FORGET_TASK = """
    WITH forgotten AS (
        DELETE FROM idempotency_key
        WHERE user_id = $1 AND response_status = 201 AND response_body->>'id' = $2
        RETURNING user_id, key, request_hash, created_at
    )
    INSERT INTO idempotency_key
        (user_id, key, request_hash, response_status, response_body, created_at)
    SELECT user_id, key, request_hash, 404, 'null', created_at FROM forgotten
"""


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
    body: str  # the JSON text as stored, replayed as it is


def request_fingerprint(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def claim(
    connection: asyncpg.Connection, *, user_id: str, key: str, request_hash: str
) -> StoredResponse | None:
    """Claim ``key`` for this request, or return the response of the request that owns it."""
    if not _VALID_KEY.fullmatch(key):
        raise InvalidIdempotencyKey()
    await connection.execute(_EXPIRE, user_id, key)
    if await connection.fetchval(_CLAIM, user_id, key, request_hash):
        return None
    stored_hash, status_code, body = await connection.fetchrow(_FIND, user_id, key)
    if stored_hash != request_hash:
        raise IdempotencyKeyReused()
    return StoredResponse(status_code=status_code, body=body)


async def record(
    connection: asyncpg.Connection, *, user_id: str, key: str, status_code: int, body: bytes
) -> None:
    """Store the response a claimed key will replay; commits with the task.

    Waiters blocked on the claim see only the committed, complete row: the
    placeholder is deleted and replaced by the same transaction.
    """
    request_hash = await connection.fetchval(_RELEASE_CLAIM, user_id, key)
    await connection.execute(_RECORD, user_id, key, request_hash, status_code, body.decode())


async def forget_task(connection: asyncpg.Connection, *, user_id: str, task_id: str) -> None:
    """Drop the stored response of a deleted task: a retry of its key then gets 404."""
    await connection.execute(_FORGET_TASK, user_id, task_id)
