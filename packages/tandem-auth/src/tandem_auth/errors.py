"""Why a request was refused, each reason mapped to one RFC 6750 response.

    TandemAuthError              base of everything this package raises
    ├── ConfigurationError       a missing or contradictory setting, found at start-up
    └── AuthError                a request that authentication refused
        ├── MissingCredentials   401, ``WWW-Authenticate: Bearer realm=...`` with no error
        ├── InvalidToken         401, ``error="invalid_token"`` and a fixed description
        │   ├── ExpiredToken     401, the token's ``exp`` has passed
        │   └── RevokedSession   401, the token's session has ended
        ├── InvalidRequest       400, ``error="invalid_request"`` (more than one credential)
        ├── UserMismatch         403, the path names another user than ``sub``
        └── Unavailable          503 with ``Retry-After``: no answer right now
            ├── KeySourceUnavailable     no key to verify with
            └── SessionCheckUnavailable  revocation cannot be checked

An ``AuthError`` carries a short ``reason`` code for logs, a status, a body
code and a constant description. None of them ever holds the token, a part
of it, or a claim: the verifier raises them outside the ``except`` blocks
that caught PyJWT's errors, so not even ``__context__`` points at one.
"""

from __future__ import annotations

from typing import ClassVar


class TandemAuthError(Exception):
    """The base class of every exception this package raises."""


class ConfigurationError(TandemAuthError, ValueError):
    """A setting is missing, malformed or contradicts another; the message names it."""


class AuthError(TandemAuthError):
    """A request that authentication refused; ``reason`` is for the audit log."""

    status_code: ClassVar[int] = 401
    code: ClassVar[str] = "invalid_token"
    description: ClassVar[str] = "The access token is invalid"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kid: str | None = None  # the unverified header's kid, once it passed the shape check

    def headers(self, realm: str) -> dict[str, str]:
        """The response headers RFC 6750 §3 asks for."""
        return {
            "WWW-Authenticate": (
                f'Bearer realm="{realm}", error="{self.code}", '
                f'error_description="{self.description}"'
            )
        }


class MissingCredentials(AuthError):
    code = "not_authenticated"
    description = "Authentication is required"

    def __init__(self) -> None:
        super().__init__("missing_token")

    def headers(self, realm: str) -> dict[str, str]:
        # RFC 6750 §3.1: a request without credentials gets no error code.
        return {"WWW-Authenticate": f'Bearer realm="{realm}"'}


class InvalidToken(AuthError):
    pass


class ExpiredToken(InvalidToken):
    description = "The access token has expired"

    def __init__(self) -> None:
        super().__init__("expired")


class RevokedSession(InvalidToken):
    description = "The session behind the access token has ended"

    def __init__(self, reason: str = "session_revoked") -> None:
        super().__init__(reason)


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

    def headers(self, realm: str) -> dict[str, str]:
        return {}


class Unavailable(AuthError):
    """The answer cannot be had right now: 503, and the client may retry."""

    status_code = 503
    code = "unavailable"
    description = "Authentication is unavailable; retry shortly"
    retry_after_seconds: ClassVar[int] = 5

    def headers(self, realm: str) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}


class KeySourceUnavailable(Unavailable):
    code = "key_source_unavailable"
    description = "Token keys are not available yet; retry shortly"

    def __init__(self) -> None:
        super().__init__("no_keys")


class SessionCheckUnavailable(Unavailable):
    code = "session_check_unavailable"
    description = "Sessions cannot be checked right now; retry shortly"

    def __init__(self) -> None:
        super().__init__("session_check_unavailable")
