"""Whether the Hugging Face Hub can be reached, answered in under two seconds.

huggingface_hub retries an unreachable host for about 25 s before it gives up; a person
asking for a plan should hear at once that the machine is offline. One TCP connection
to the Hub's host decides (the name lookup in a thread, since it cannot time out)."""

from __future__ import annotations

import os
import socket
import threading
from functools import cache
from urllib.parse import urlparse

TIMEOUT_S = 1.5


def _endpoint() -> tuple[str, int]:
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    return url.hostname or "", url.port or (80 if url.scheme == "http" else 443)


def hub_host() -> str:
    return _endpoint()[0]


@cache
def hub_reachable(timeout: float = TIMEOUT_S) -> bool:
    """True when a connection to the Hub's host opens within ``timeout`` seconds."""
    host, port = _endpoint()
    found: list[tuple[object, ...]] = []

    def lookup() -> None:
        try:
            found.extend(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError:
            pass

    resolver = threading.Thread(target=lookup, daemon=True)
    resolver.start()
    resolver.join(timeout)
    if not found:
        return False
    family, kind, proto, _, address = found[0]
    try:
        with socket.socket(family, kind, proto) as connection:  # type: ignore[arg-type]
            connection.settimeout(timeout)
            connection.connect(address)  # type: ignore[arg-type]
    except OSError:
        return False
    return True
