"""People the tests sign up: unique emails per run, so a run never meets an earlier one's data."""

import secrets
from dataclasses import dataclass

from support import sensitive


@dataclass(frozen=True)
class User:
    name: str
    email: str
    password: str


def new_user(name: str) -> User:
    handle = name.split()[0].lower()
    user = User(name, f"{handle}-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(12))
    sensitive.remember("email", user.email)
    sensitive.remember("password", user.password)
    return user
