"""Cheap structural checks that run before any key lookup or cryptography.

They reject JWE, JSON serialization, padding, whitespace, header parameters
that point at attacker-chosen keys, and odd ``kid`` values, so none of those
can ever reach the key source or PyJWT.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from tandem.auth.errors import InvalidToken

MAX_TOKEN_LENGTH = 8192
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
_KID = re.compile(r"[A-Za-z0-9._-]{1,128}")
# Parameters that name a key or change processing: RFC 8725 §3.10 and §2.
_FORBIDDEN_HEADER_PARAMS = frozenset({"jku", "x5u", "jwk", "x5c", "crit", "cty"})


def b64url_decode(segment: str) -> bytes:
    if len(segment) % 4 == 1:
        raise InvalidToken("malformed")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidToken("malformed") from exc


def split_compact(token: str) -> list[str]:
    """Return the three segments of a compact JWS, or refuse the token."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("too_long")
    segments = token.split(".")
    if len(segments) != 3 or not all(_SEGMENT.fullmatch(s) for s in segments):
        raise InvalidToken("malformed")
    return segments


def checked_header(token: str, *, algorithm: str, require_kid: bool) -> dict[str, Any]:
    """Parse and vet the protected header against the one allowed algorithm."""
    encoded_header = split_compact(token)[0]
    try:
        header = json.loads(b64url_decode(encoded_header))
    except (ValueError, RecursionError) as exc:
        raise InvalidToken("malformed_header") from exc
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
    return header
