"""The kubeconfig (or in-cluster configuration) as the official `kubernetes` SDK loads it, and TLS from it.

The SDK is used for nothing else: it knows kubeconfig contexts, exec and OIDC auth providers and certificate
data. Loading is blocking work (files, maybe an exec plugin): callers run it in a thread. `kubernetes` is
imported inside functions only: every CLI call loads every backend's entry point, and the SDK takes a second
to import.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from endpointctl.backends.kubernetes.settings import DEFAULT_NAMESPACE, Target
from endpointctl.core.errors import BackendUnavailable
from endpointctl.core.tls import client_ssl_context

IN_CLUSTER_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
# The pod's own namespace, which an in-cluster client works in unless told otherwise (as kubectl does).
IN_CLUSTER_NAMESPACE = IN_CLUSTER_TOKEN.with_name("namespace")
MAX_NAMESPACE_FILE_BYTES = 256


def in_cluster_namespace() -> str | None:
    try:
        with IN_CLUSTER_NAMESPACE.open("rb") as f:
            text = f.read(MAX_NAMESPACE_FILE_BYTES).decode("utf-8", "replace").strip()
    except OSError:
        return None
    return text or None


def kubeconfig_files(env: Mapping[str, str] | None = None) -> list[Path]:
    env = os.environ if env is None else env
    if env.get("KUBECONFIG"):
        return [Path(p) for p in env["KUBECONFIG"].split(os.pathsep) if p]
    return [Path(env.get("HOME") or Path.home()) / ".kube" / "config"]


def kubeconfig_argument(env: Mapping[str, str] | None = None) -> str:
    """KUBECONFIG as read now: the client reads it once, at import, so a later change would be missed."""
    return os.pathsep.join(str(f) for f in kubeconfig_files(env) if f.is_file())


def in_cluster(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return bool(env.get("KUBERNETES_SERVICE_HOST")) and IN_CLUSTER_TOKEN.exists()


def no_config_reason(env: Mapping[str, str] | None = None) -> str | None:
    """Why no cluster can be configured, or None when a kubeconfig or in-cluster config exists."""
    env = os.environ if env is None else env
    if in_cluster(env):
        return None
    files = kubeconfig_files(env)
    if any(f.is_file() for f in files):
        return None
    if env.get("KUBECONFIG"):
        return f"no kubeconfig (KUBECONFIG={env['KUBECONFIG']} does not exist)"
    return (
        f"no kubeconfig (KUBECONFIG unset, {files[0].as_posix().replace(str(Path.home()), '~', 1)} missing)"
    )


def list_contexts() -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    from kubernetes import config

    try:
        contexts, current = config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
            config_file=kubeconfig_argument()
        )
    except config.ConfigException as exc:
        raise BackendUnavailable(f"kubeconfig: {exc}") from None
    return list(contexts or []), current


def load_configuration(target: Target) -> Any:
    """The SDK's Configuration for `target`: blocking (files, maybe an exec plugin), so called in a thread."""
    from kubernetes import client, config

    reason = no_config_reason()
    if reason is not None:
        raise BackendUnavailable(reason)
    configuration = client.Configuration()
    try:
        if any(f.is_file() for f in kubeconfig_files()):
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig_argument(),
                context=target.context,
                client_configuration=configuration,
            )
        else:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except config.ConfigException as exc:
        raise BackendUnavailable(f"kubeconfig: {exc}") from None
    return configuration


def ssl_context(configuration: Any) -> ssl.SSLContext:
    """TLS as the SDK's Configuration asks: its CA, its client certificate, or no verification at all."""
    if not configuration.verify_ssl:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif configuration.ssl_ca_cert:
        context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
    elif configuration.cert_file or configuration.assert_hostname is False:
        context = httpx.create_ssl_context()  # changed below: the shared context must stay as it is
    else:
        return client_ssl_context()
    if configuration.assert_hostname is False:
        context.check_hostname = False
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, configuration.key_file or None)
    return context


def namespace_of(context: Mapping[str, Any] | None) -> str:
    return named_namespace(context) or DEFAULT_NAMESPACE


def named_namespace(context: Mapping[str, Any] | None) -> str | None:
    """The namespace a kubeconfig context names, or None when it names none."""
    if not context:
        return None
    return str((context.get("context") or {}).get("namespace") or "") or None
