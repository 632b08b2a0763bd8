"""The scoring host: a drop-in, asyncio-based replacement for ``azmlinfsrv``.

It runs inside a deployment's own environment, so it imports only the standard library, uvicorn,
httptools (and uvloop when present), werkzeug for scripts that use AMLRequest/AMLResponse, and
whatever the user's scoring script imports.
"""

# The azmlinfsrv release whose contract this host reproduces; reported in x-ms-server-version so
# clients that parse it keep working, with our own version as build metadata.
EMULATED_SERVER_VERSION = "1.5.1"
HOST_VERSION = "0.1.0"
