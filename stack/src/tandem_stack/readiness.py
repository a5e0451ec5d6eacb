"""Probing local services: is a port taken, does a URL answer with success."""

import http.client
import socket
import urllib.request

LOCALHOST = "127.0.0.1"

# Readiness probes go straight to 127.0.0.1, whatever HTTP_PROXY says.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def port_in_use(port: int, host: str = LOCALHOST) -> bool:
    """True if something accepts TCP connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        return probe.connect_ex((host, port)) == 0


def http_ok(url: str, *, timeout: float) -> bool:
    """True if GET `url` answers 2xx within `timeout` seconds."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an HTTP URL: {url}")
    try:
        with _OPENER.open(url, timeout=timeout) as response:
            status: int = response.status
            return 200 <= status < 300
    except (OSError, http.client.HTTPException):
        return False
