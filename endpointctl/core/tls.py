"""One TLS context for every HTTP client a backend makes.

httpx loads the whole CA bundle into a fresh context for each client it builds: about 45 ms of CPU. Invoke,
probes and ARM calls each build clients, so they share this context (read-only once built, safe to share
between clients and threads).
"""

from __future__ import annotations

import functools
import ssl


@functools.cache
def client_ssl_context() -> ssl.SSLContext:
    import httpx

    # httpx's own defaults (certifi's bundle, or SSL_CERT_FILE / SSL_CERT_DIR when set), built once.
    return httpx.create_ssl_context()
