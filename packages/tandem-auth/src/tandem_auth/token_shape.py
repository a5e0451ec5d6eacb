"""Cheap structural checks that run before any key lookup or cryptography.

They reject JWE, JSON serialization, padding, whitespace, text that is not
UTF-8, header parameters that point at attacker-chosen keys, and odd ``kid``
values, so none of those can ever reach the key source or PyJWT.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re

from tandem_auth.errors import InvalidToken

MAX_TOKEN_LENGTH = 8192
# Three base64url segments, matched in one pass over the token.
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_KID = re.compile(r"[A-Za-z0-9._-]{1,128}")
# Parameters that name a key or change processing: RFC 8725 §3.10 and §2.
_FORBIDDEN_HEADER_PARAMS = frozenset({"jku", "x5u", "jwk", "x5c", "crit", "cty"})


# Each check raises its InvalidToken outside the except block that caught the parser's
# error: a JSONDecodeError holds the whole document, and no error of ours may carry any
# part of the token, not even through __context__.


def b64url_decode(segment: str) -> bytes:
    decoded = _b64url_or_none(segment)
    if decoded is None:
        raise InvalidToken("malformed")
    return decoded


def _b64url_or_none(segment: str) -> bytes | None:
    if len(segment) % 4 == 1:
        return None
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        return None


def utf8_text(segment: str) -> str:
    """Decode a segment as JSON text in strict UTF-8 (RFC 7519 §7.2, RFC 8259 §8.1).

    ``json.loads`` on bytes guesses UTF-16 or UTF-32 from NULs and BOMs, and
    lets encoded lone surrogates through, which later break JSON responses.
    JSON text in UTF-8 holds neither a raw NUL nor a BOM, so refusing them
    also means PyJWT's own parse of these bytes reads this very text.
    """
    text = _utf8_or_none(b64url_decode(segment))
    if text is None or "\x00" in text or text.startswith("\ufeff"):
        raise InvalidToken("malformed")
    return text


def _utf8_or_none(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def split_compact(token: str) -> list[str]:
    """Return the three segments of a compact JWS, or refuse the token."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("too_long")
    if not _COMPACT_JWS.fullmatch(token):
        raise InvalidToken("malformed")
    return token.split(".")


def vetted_kid(token: str, *, algorithm: str, require_kid: bool) -> str | None:
    """Check the token's shape and protected header; return the header's ``kid``.

    Tokens from one issuer share a handful of headers, so the header verdict
    is memoized by its encoded form; only headers that pass are remembered.
    """
    encoded_header, encoded_payload, _ = split_compact(token)
    utf8_text(encoded_payload)  # PyJWT parses the claims later, from bytes
    return _vetted_header_kid(encoded_header, algorithm, require_kid)


@functools.lru_cache(maxsize=256)
def _vetted_header_kid(encoded_header: str, algorithm: str, require_kid: bool) -> str | None:
    header = _json_or_none(utf8_text(encoded_header))
    if not isinstance(header, dict):
        raise InvalidToken("malformed_header")
    if header.get("alg") != algorithm:
        raise InvalidToken("alg_not_allowed")
    if not _FORBIDDEN_HEADER_PARAMS.isdisjoint(header):
        raise InvalidToken("forbidden_header_param")
    typ = header.get("typ", "JWT")
    if not isinstance(typ, str) or typ.upper() != "JWT":
        raise InvalidToken("bad_typ")
    kid = header.get("kid")
    if (kid is not None or require_kid) and not (isinstance(kid, str) and _KID.fullmatch(kid)):
        raise InvalidToken("bad_kid")
    return kid


def _json_or_none(text: str) -> object:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None
