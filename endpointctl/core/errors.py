"""Errors the façade raises. The CLI maps `exit_code` straight to its exit status."""

from __future__ import annotations


class EndpointctlError(Exception):
    """An operation failed; nothing was left half-written."""

    exit_code = 1


class InvalidInput(EndpointctlError):
    """The user's input (a file, a flag, a value) is wrong; nothing was changed."""

    exit_code = 2


class NotFound(EndpointctlError):
    """The named endpoint, deployment or asset does not exist."""


class Conflict(EndpointctlError):
    """The change contradicts the current state (e.g. an asset version with other content)."""


class BackendUnavailable(EndpointctlError):
    """The backend cannot be reached (no Docker engine, no kubeconfig, no Azure credential)."""


class NotSupported(EndpointctlError):
    """The backend does not offer this operation; the message says why."""

    exit_code = 2


class OperationFailed(EndpointctlError):
    """The backend accepted the change but it ended Failed (rolled back where possible)."""
