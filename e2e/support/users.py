"""People the tests sign up: unique emails per run, so a run never meets an earlier one's data."""

import secrets
from dataclasses import dataclass


@dataclass(frozen=True)
class User:
    name: str
    email: str
    password: str


def new_user(name: str) -> User:
    handle = name.split()[0].lower()
    return User(name, f"{handle}-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(12))
