"""Counts a service may export (as Prometheus metrics, say) without this package knowing how.

The caches count their lookups in plain integers, which cost nothing on the
request path; an exporter reads them when it is scraped.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class CacheStats:
    """Lookups in one cache since it was made: a hit ratio is hits / (hits + misses)."""

    hits: int = 0
    misses: int = 0
