"""SCRAM-SHA-256 password verifiers (RFC 5802, RFC 7677) in PostgreSQL's text form.

Handing PostgreSQL a verifier instead of the password keeps the password off command
lines, out of `pg_stat_activity` and out of the server log.
"""

import base64
import hashlib
import hmac
import secrets
import stringprep
import unicodedata

DEFAULT_ITERATIONS = 4096  # PostgreSQL's scram_iterations default

_PROHIBITED = (
    stringprep.in_table_c12,
    stringprep.in_table_c21_c22,
    stringprep.in_table_c3,
    stringprep.in_table_c4,
    stringprep.in_table_c5,
    stringprep.in_table_c6,
    stringprep.in_table_c7,
    stringprep.in_table_c8,
    stringprep.in_table_c9,
    stringprep.in_table_a1,
)


def _saslprep(password: str) -> bytes:
    """The bytes PostgreSQL hashes: SASLprep (RFC 4013) of the password, or the raw UTF-8
    when SASLprep rejects it, as PostgreSQL's own pg_saslprep does."""
    raw = password.encode("utf-8")
    if password.isascii():
        return raw  # PostgreSQL skips normalization for pure ASCII
    mapped = "".join(
        " " if stringprep.in_table_c12(char) else char
        for char in password
        if not stringprep.in_table_b1(char)
    )
    prepared = unicodedata.normalize("NFKC", mapped)
    if not prepared or any(check(char) for char in prepared for check in _PROHIBITED):
        return raw
    if any(stringprep.in_table_d1(char) for char in prepared) and (
        any(stringprep.in_table_d2(char) for char in prepared)
        or not stringprep.in_table_d1(prepared[0])
        or not stringprep.in_table_d1(prepared[-1])
    ):
        return raw
    return prepared.encode("utf-8")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def scram_sha256_verifier(
    password: str, *, salt: bytes | None = None, iterations: int = DEFAULT_ITERATIONS
) -> str:
    """`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, accepted by
    `CREATE ROLE ... PASSWORD` as an already-hashed password."""
    salt = secrets.token_bytes(16) if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha256", _saslprep(password), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    return f"SCRAM-SHA-256${iterations}:{_b64(salt)}${_b64(stored_key)}:{_b64(server_key)}"
