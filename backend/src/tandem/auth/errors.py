"""Authentication failures, each mapped to one RFC 6750 response.

    AuthError                  base: status, body code, fixed description, log reason
    ├── MissingCredentials     401, ``WWW-Authenticate: Bearer realm=...`` with no error
    ├── InvalidToken           401, ``error="invalid_token"`` and a fixed description
    ├── InvalidRequest         400, ``error="invalid_request"`` (more than one credential)
    ├── UserMismatch           403, the path names another user than ``sub``
    └── KeySourceUnavailable   503 with ``Retry-After``: no key to verify with

The ``reason`` is a short machine code for logs only. Responses never echo
the token or any claim, so every description here is a constant.
"""

from __future__ import annotations

from typing import ClassVar

REALM = "tandem"


class AuthError(Exception):
    """A request that authentication refused; ``reason`` is for the audit log."""

    status_code: ClassVar[int] = 401
    code: ClassVar[str] = "invalid_token"
    description: ClassVar[str] = "The access token is invalid"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kid: str | None = None  # the unverified header's kid, once it passed the shape check

    def headers(self) -> dict[str, str]:
        return {
            "WWW-Authenticate": (
                f'Bearer realm="{REALM}", error="{self.code}", '
                f'error_description="{self.description}"'
            )
        }


class MissingCredentials(AuthError):
    code = "not_authenticated"
    description = "Authentication is required"

    def __init__(self) -> None:
        super().__init__("missing_token")

    def headers(self) -> dict[str, str]:
        # RFC 6750 §3.1: a request without credentials gets no error code.
        return {"WWW-Authenticate": f'Bearer realm="{REALM}"'}


class InvalidToken(AuthError):
    pass


class ExpiredToken(InvalidToken):
    description = "The access token has expired"


class RevokedSession(InvalidToken):
    description = "The session behind the access token has ended"

    def __init__(self) -> None:
        super().__init__("session_revoked")


class InvalidRequest(AuthError):
    status_code = 400
    code = "invalid_request"
    description = "Send exactly one credential, in the Authorization header"

    def __init__(self) -> None:
        super().__init__("multiple_credentials")


class UserMismatch(AuthError):
    status_code = 403
    code = "forbidden"
    description = "The token does not grant access to this user's resources"

    def __init__(self) -> None:
        super().__init__("user_mismatch")

    def headers(self) -> dict[str, str]:
        return {}


class KeySourceUnavailable(AuthError):
    status_code = 503
    code = "key_source_unavailable"
    description = "Token keys are not available yet; retry shortly"
    retry_after_seconds: ClassVar[int] = 5

    def __init__(self) -> None:
        super().__init__("no_keys")

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}
