"""Tokens that already passed every check, remembered until they expire.

DESIGN.md §4 allows this: a hit skips the signature check, never the
authorization or revocation that follow. Entries are keyed by the full token
string, so a token that differs by one byte is a miss.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from tandem_auth.principal import Principal
from tandem_auth.stats import CacheStats


class VerifiedTokenCache:
    """A bounded map from token to ``Principal`` whose entries die at ``exp`` plus leeway."""

    def __init__(self, *, max_entries: int, leeway_seconds: float) -> None:
        self._max_entries = max_entries
        self._leeway = leeway_seconds
        self._entries: OrderedDict[str, Principal] = OrderedDict()
        self.stats = CacheStats()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str) -> Principal | None:
        principal = self._entries.get(token)
        if principal is not None and principal.expires_at + self._leeway <= time.time():
            del self._entries[token]
            principal = None
        if principal is None:
            self.stats.misses += 1
        else:
            self.stats.hits += 1
        return principal

    def put(self, token: str, principal: Principal) -> None:
        if self._max_entries <= 0:
            return
        while len(self._entries) >= self._max_entries:
            # every token lives at most an hour, so the oldest entry is the
            # first to expire: drop it, in O(1)
            self._entries.popitem(last=False)
        self._entries[token] = principal

    def forget_kids(self, kids: frozenset[str]) -> None:
        """Drop tokens signed by keys that left the key set."""
        for token in [t for t, p in self._entries.items() if p.kid in kids]:
            del self._entries[token]
