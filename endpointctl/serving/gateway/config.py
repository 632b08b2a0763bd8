"""The gateway's desired state: plain JSON parsed into frozen dataclasses (stdlib only).

Every backend (process, Docker, Kubernetes) drives the gateway with the same document; it holds the whole state
of every endpoint the gateway serves, and each ``apply`` replaces the previous one::

    {
      "endpoints": {
        "my-endpoint": {
          "host": "127.0.0.1",                  # default 127.0.0.1 (loopback)
          "port": 18080,                        # 0 = pick a free port once, then keep it for this endpoint
          "auth_mode": "key",                   # key | aml_token | aad_token (aad: refused, not supported locally)
          "keys": ["<primary>", "<secondary>"], # key mode: one or two keys
          "token_secret": "<hex>",              # aml_token mode: HMAC secret of tokens.py, hex encoded
          "traffic": {"blue": 90, "green": 10}, # integer percents summing to 100, or all 0
          "mirror_traffic": {"green": 10},      # at most one deployment, <= 50, not one with live traffic
          "max_request_body_bytes": 33554432,   # optional, larger bodies get 413
          "deployments": {
            "blue": {
              "instances": ["127.0.0.1:5001", "[::1]:5002", "unix:/run/s.sock"],
              "request_timeout_ms": 5000,                  # 1..180000, default 5000
              "max_concurrent_requests_per_instance": 1,   # default 1
              "max_queue_wait_ms": 500                     # default 500
            }
          }
        }
      }
    }

Names follow Azure's rules (3-32 characters, letters, digits and ``-``); unknown keys are errors, so a typo in a
backend never silently changes behaviour. :meth:`GatewayConfig.to_dict` with ``redact=True`` replaces keys and
secrets, which is what the admin API shows and what may be logged.

Backends build these types (``endpointctl.backends.common.routing``) rather than the JSON, and write them with
:func:`routing_document` and :func:`keys_document` (the two files of ``files.py``) or check them with
:meth:`GatewayConfig.checked`, so this module alone defines the document. It stays stdlib-only: the control
plane imports it, never the other way round.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

AUTH_MODES = ("key", "aml_token", "aad_token")
NAME_RE = re.compile(r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$")
MAX_REQUEST_TIMEOUT_MS = 180_000
DEFAULT_MAX_REQUEST_BODY_BYTES = 32 * 1024 * 1024
MAX_MIRROR_PERCENT = 50
# Mirrored answers equal the live ones when numbers agree to this relative tolerance.
DEFAULT_SHADOW_TOLERANCE = 1e-6
REDACTED = "***"
# The credentials: the only fields of an endpoint that go in the keys document rather than the routing one.
SECRET_FIELDS = frozenset({"keys", "token_secret", "instance_token"})
# What the gateway sends every instance of an endpoint that has an instance token (the scoring host's
# ENDPOINTCTL_INSTANCE_TOKEN_FILE): where the network cannot keep others away, only the gateway knows it.
INSTANCE_TOKEN_HEADER = b"x-endpointctl-instance-token"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,1024}")


class ConfigError(ValueError):
    """The document is not a valid gateway configuration; the message names the offending field."""


# sun_path holds 108 bytes including the terminating NUL.
MAX_SOCKET_PATH = 107


@dataclass(frozen=True)
class Address:
    """An instance: ``host:port`` over TCP, or ``unix:/path`` (then host is empty and port 0)."""

    host: str
    port: int
    path: str = ""

    @classmethod
    def unix(cls, path: str) -> Address:
        return cls("", 0, path)

    def __str__(self) -> str:
        if self.path:
            return f"unix:{self.path}"
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class DeploymentConfig:
    instances: tuple[Address, ...] = ()
    request_timeout_ms: int = 5000
    max_concurrent_requests_per_instance: int = 1
    max_queue_wait_ms: int = 500


@dataclass(frozen=True)
class EndpointConfig:
    host: str = "127.0.0.1"
    port: int = 0
    auth_mode: str = "key"
    # Out of repr: a stray log line or traceback must not carry a credential.
    keys: tuple[str, ...] = field(default=(), repr=False)
    token_secret: bytes = field(default=b"", repr=False)
    instance_token: str = field(default="", repr=False)
    traffic: Mapping[str, int] = field(default_factory=dict)
    mirror_traffic: Mapping[str, int] = field(default_factory=dict)
    deployments: Mapping[str, DeploymentConfig] = field(default_factory=dict)
    max_request_body_bytes: int = DEFAULT_MAX_REQUEST_BODY_BYTES
    # Relative tolerance when a mirrored answer is compared with the live one (see .shadow).
    shadow_tolerance: float = DEFAULT_SHADOW_TOLERANCE

    def to_dict(self, *, redact: bool = True) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if self.shadow_tolerance != DEFAULT_SHADOW_TOLERANCE:  # documents stay as they were by default
            extra["shadow_tolerance"] = self.shadow_tolerance
        if self.instance_token:
            extra["instance_token"] = REDACTED if redact else self.instance_token
        return extra | {
            "host": self.host,
            "port": self.port,
            "auth_mode": self.auth_mode,
            "keys": [REDACTED if redact else k for k in self.keys],
            "token_secret": (REDACTED if redact else self.token_secret.hex()) if self.token_secret else "",
            "traffic": dict(self.traffic),
            "mirror_traffic": dict(self.mirror_traffic),
            "max_request_body_bytes": self.max_request_body_bytes,
            "deployments": {
                name: {
                    "instances": [str(a) for a in dep.instances],
                    "request_timeout_ms": dep.request_timeout_ms,
                    "max_concurrent_requests_per_instance": dep.max_concurrent_requests_per_instance,
                    "max_queue_wait_ms": dep.max_queue_wait_ms,
                }
                for name, dep in self.deployments.items()
            },
        }


@dataclass(frozen=True)
class GatewayConfig:
    endpoints: Mapping[str, EndpointConfig] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, doc: object) -> GatewayConfig:
        return parse_config(doc)

    @classmethod
    def from_json(cls, text: str | bytes) -> GatewayConfig:
        try:
            doc = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config is not valid JSON: {exc}") from None
        return parse_config(doc)

    def to_dict(self, *, redact: bool = True) -> dict[str, Any]:
        return {"endpoints": {name: ep.to_dict(redact=redact) for name, ep in self.endpoints.items()}}

    def checked(self) -> GatewayConfig:
        """This configuration after every check :func:`parse_config` makes (raises :class:`ConfigError`).

        Values built in code skip the parser; going through the document gives them exactly the rules a file
        or the admin API gets, with no second copy of those rules to drift.
        """
        return parse_config(self.to_dict(redact=False))


def routing_document(config: GatewayConfig) -> dict[str, Any]:
    """``config`` as the routing file (``--config-file``): everything but the credentials.

    The routing file may be read by anyone (on Kubernetes it is a ConfigMap), so the credentials travel in
    :func:`keys_document` and ``files.merge_keys`` puts them back. A body limit at the default is left out: the
    file then says only what the backend chose, and the gateway's default applies.
    """
    doc = config.to_dict(redact=True)
    for entry in doc["endpoints"].values():
        for name in SECRET_FIELDS:
            entry.pop(name, None)
        if entry["max_request_body_bytes"] == DEFAULT_MAX_REQUEST_BODY_BYTES:
            del entry["max_request_body_bytes"]
    return doc


def keys_document(config: GatewayConfig) -> dict[str, Any]:
    """The credentials of ``config``'s endpoints, the keys file (``--keys-file``) that completes the routing one."""
    doc = config.to_dict(redact=False)
    return {
        "endpoints": {
            name: {key: entry[key] for key in sorted(SECRET_FIELDS) if key in entry}
            for name, entry in doc["endpoints"].items()
        }
    }


def _obj(value: object, where: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected an object")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    return value


def _int(value: object, where: str, low: int, high: int) -> int:
    # bool is an int subclass; `true` for a port is a mistake, not 1.
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(f"{where}: expected an integer")
    if not low <= value <= high:
        raise ConfigError(f"{where}: must be between {low} and {high}")
    return value


def is_name(value: object) -> TypeGuard[str]:
    """Azure's rule for endpoint and deployment names (the specs check names with it too)."""
    return isinstance(value, str) and 3 <= len(value) <= 32 and NAME_RE.match(value) is not None


def _name(value: object, where: str) -> str:
    if not is_name(value):
        raise ConfigError(
            f"{where}: {value!r} is not a valid name (3-32 letters, digits or '-', starting with a letter)"
        )
    return value


def parse_address(text: object, where: str) -> Address:
    if not isinstance(text, str):
        raise ConfigError(f"{where}: expected 'host:port' or 'unix:/path'")
    if text.startswith("unix:"):
        path = text[len("unix:") :]
        if not path.startswith("/") or "\0" in path or len(path.encode()) > MAX_SOCKET_PATH:
            raise ConfigError(
                f"{where}: {text!r} is not 'unix:' and an absolute path of at most {MAX_SOCKET_PATH} bytes"
            )
        return Address.unix(path)
    match = re.fullmatch(r"\[([0-9a-fA-F:.]+)\]:(\d{1,5})|([^:\s\[\]]+):(\d{1,5})", text)
    if not match:
        raise ConfigError(f"{where}: {text!r} is not 'host:port'")
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4))
    if not 1 <= port <= 65535:
        raise ConfigError(f"{where}: port {port} out of range")
    return Address(host, port)


def _percent_map(value: object, where: str, deployments: Mapping[str, DeploymentConfig]) -> dict[str, int]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected an object of deployment -> percent")
    result: dict[str, int] = {}
    for name, pct in value.items():
        if name not in deployments:
            raise ConfigError(f"{where}: deployment {name!r} does not exist")
        result[name] = _int(pct, f"{where}.{name}", 0, 100)
    return result


def _deployment(value: object, where: str) -> DeploymentConfig:
    doc = _obj(
        value,
        where,
        {"instances", "request_timeout_ms", "max_concurrent_requests_per_instance", "max_queue_wait_ms"},
    )
    raw_instances = doc.get("instances", [])
    if not isinstance(raw_instances, list):
        raise ConfigError(f"{where}.instances: expected a list of 'host:port' or 'unix:/path'")
    instances = tuple(parse_address(a, f"{where}.instances[{i}]") for i, a in enumerate(raw_instances))
    if len(set(instances)) != len(instances):
        raise ConfigError(f"{where}.instances: duplicate instance")
    return DeploymentConfig(
        instances=instances,
        request_timeout_ms=_int(
            doc.get("request_timeout_ms", 5000), f"{where}.request_timeout_ms", 1, MAX_REQUEST_TIMEOUT_MS
        ),
        max_concurrent_requests_per_instance=_int(
            doc.get("max_concurrent_requests_per_instance", 1),
            f"{where}.max_concurrent_requests_per_instance",
            1,
            10_000,
        ),
        max_queue_wait_ms=_int(doc.get("max_queue_wait_ms", 500), f"{where}.max_queue_wait_ms", 0, 3_600_000),
    )


def _endpoint(value: object, where: str) -> EndpointConfig:
    doc = _obj(
        value,
        where,
        {
            "host",
            "port",
            "auth_mode",
            "keys",
            "token_secret",
            "traffic",
            "mirror_traffic",
            "deployments",
            "max_request_body_bytes",
            "shadow_tolerance",
            "instance_token",
        },
    )
    host = doc.get("host", "127.0.0.1")
    if not isinstance(host, str) or not host:
        raise ConfigError(f"{where}.host: expected a host name or address")
    port = _int(doc.get("port", 0), f"{where}.port", 0, 65535)
    auth_mode = doc.get("auth_mode", "key")
    if not isinstance(auth_mode, str) or auth_mode.lower() not in AUTH_MODES:
        raise ConfigError(f"{where}.auth_mode: must be one of {', '.join(AUTH_MODES)}")
    auth_mode = auth_mode.lower()

    raw_keys = doc.get("keys", [])
    if (
        not isinstance(raw_keys, list)
        or len(raw_keys) > 2
        or not all(isinstance(k, str) and k for k in raw_keys)
    ):
        raise ConfigError(f"{where}.keys: expected a list of one or two non-empty strings")
    if auth_mode == "key" and not raw_keys:
        raise ConfigError(f"{where}.keys: auth_mode key needs at least one key")
    raw_secret = doc.get("token_secret", "")
    try:
        token_secret = bytes.fromhex(raw_secret) if isinstance(raw_secret, str) else None
    except ValueError:
        token_secret = None
    if token_secret is None:
        raise ConfigError(f"{where}.token_secret: expected a hex string")
    if auth_mode == "aml_token" and len(token_secret) < 16:
        raise ConfigError(f"{where}.token_secret: auth_mode aml_token needs a secret of at least 16 bytes")

    instance_token = doc.get("instance_token", "")
    if not isinstance(instance_token, str) or (instance_token and not _TOKEN.fullmatch(instance_token)):
        raise ConfigError(f"{where}.instance_token: expected 16 to 1024 characters of A-Z a-z 0-9 - _")

    raw_deps = doc.get("deployments", {})
    if not isinstance(raw_deps, dict):
        raise ConfigError(f"{where}.deployments: expected an object")
    if len(raw_deps) > 20:
        raise ConfigError(f"{where}.deployments: at most 20 deployments per endpoint")
    deployments = {
        _name(n, f"{where}.deployments"): _deployment(d, f"{where}.deployments.{n}")
        for n, d in raw_deps.items()
    }
    if len({n.lower() for n in deployments}) != len(deployments):
        raise ConfigError(f"{where}.deployments: names differ only in case")

    traffic = _percent_map(doc.get("traffic", {}), f"{where}.traffic", deployments)
    total = sum(traffic.values())
    if total not in (0, 100):
        raise ConfigError(f"{where}.traffic: percents must sum to 100 or all be 0 (got {total})")
    mirror = _percent_map(doc.get("mirror_traffic", {}), f"{where}.mirror_traffic", deployments)
    if len(mirror) > 1:
        raise ConfigError(f"{where}.mirror_traffic: at most one deployment")
    for name, pct in mirror.items():
        if pct > MAX_MIRROR_PERCENT:
            raise ConfigError(f"{where}.mirror_traffic.{name}: at most {MAX_MIRROR_PERCENT} percent")
        if pct and traffic.get(name, 0) > 0:
            raise ConfigError(
                f"{where}.mirror_traffic.{name}: a deployment with live traffic cannot be mirrored to"
            )

    tolerance = doc.get("shadow_tolerance", DEFAULT_SHADOW_TOLERANCE)
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or not 0 <= tolerance <= 1:
        raise ConfigError(f"{where}.shadow_tolerance: expected a relative tolerance between 0 and 1")
    return EndpointConfig(
        shadow_tolerance=float(tolerance),
        host=host,
        port=port,
        auth_mode=auth_mode,
        keys=tuple(raw_keys),
        token_secret=token_secret,
        instance_token=instance_token,
        traffic=traffic,
        mirror_traffic=mirror,
        deployments=deployments,
        max_request_body_bytes=_int(
            doc.get("max_request_body_bytes", DEFAULT_MAX_REQUEST_BODY_BYTES),
            f"{where}.max_request_body_bytes",
            1024,
            1 << 31,
        ),
    )


def parse_config(doc: object) -> GatewayConfig:
    """Validate ``doc`` (decoded JSON) completely; raise :class:`ConfigError` at the first problem."""
    top = _obj(doc, "config", {"endpoints"})
    raw_endpoints = top.get("endpoints", {})
    if not isinstance(raw_endpoints, dict):
        raise ConfigError("endpoints: expected an object")
    endpoints = {_name(n, "endpoints"): _endpoint(e, f"endpoints.{n}") for n, e in raw_endpoints.items()}
    bound: dict[tuple[str, int], str] = {}
    for name, ep in endpoints.items():
        if ep.port == 0:
            continue
        other = bound.setdefault((ep.host, ep.port), name)
        if other != name:
            raise ConfigError(f"endpoints.{name}.port: {ep.host}:{ep.port} is already used by {other!r}")
    return GatewayConfig(endpoints=endpoints)
