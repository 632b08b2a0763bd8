"""Object names and labels: everything we create carries them, so listing and cleanup work by label alone."""

from __future__ import annotations

import hashlib

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "endpointctl"
COMPONENT = "app.kubernetes.io/component"
ENDPOINT = "endpointctl.io/endpoint"
DEPLOYMENT = "endpointctl.io/deployment"
# The spec as the user gave it, so `show` round-trips without any local state.
SPEC_ANNOTATION = "endpointctl.io/spec"
PACKAGE_ANNOTATION = "endpointctl.io/package"
FAILURE_ANNOTATION = "endpointctl.io/failure"
ROLLED_BACK_ANNOTATION = "endpointctl.io/rolled-back-from"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"

GATEWAY = "gateway"
INFERENCE = "inference"
PACKAGE = "package"
CONTROLLER = "rollout-controller"

# The routing ConfigMap's documents: the gateway's routing, and the endpoint's spec it was rendered from.
ROUTING_KEY = "routing.json"
ENDPOINT_KEY = "endpoint.json"


def _dns(name: str) -> str:
    # Azure names allow capitals; Kubernetes object names do not. Labels keep the original spelling.
    return name.lower()


def gateway_name(endpoint: str) -> str:
    # "gw" is 2 characters, so no deployment (3–32) of the same endpoint can take this name.
    return f"{_dns(endpoint)}-gw"


def gateway_admin_name(endpoint: str) -> str:
    return f"{gateway_name(endpoint)}-admin"


def keys_secret_name(endpoint: str) -> str:
    return f"{gateway_name(endpoint)}-keys"


def admin_token_secret_name(endpoint: str) -> str:
    return f"{gateway_name(endpoint)}-admin-token"


def instance_token_secret_name(endpoint: str) -> str:
    # Mounted by the endpoint's inference pods: the token their scoring hosts require of the gateway.
    return f"{_dns(endpoint)}-instance-token"


def inference_policy_name(endpoint: str) -> str:
    # NetworkPolicies are ours alone in their kind: "-gw" names the gateway's, this one its inference pods'.
    return f"{_dns(endpoint)}-inference"


def routing_name(endpoint: str) -> str:
    return f"{gateway_name(endpoint)}-routing"


def controller_name(endpoint: str) -> str:
    """The progressive-rollout controller's Deployment, ServiceAccount, Role, RoleBinding and NetworkPolicy, and
    the ConfigMap that holds the rollout's state (under "-gw", which no deployment name can take)."""
    return f"{gateway_name(endpoint)}-rollout"


def gateway_host_name(endpoint: str, digest: str) -> str:
    return f"{gateway_name(endpoint)}-host-{digest[:10]}"


def deployment_name(endpoint: str, deployment: str) -> str:
    return f"{_dns(endpoint)}-{_dns(deployment)}"


def package_name(endpoint: str, deployment: str, digest: str) -> str:
    # Content-addressed: a rolled-back ReplicaSet still finds the package its template names.
    return f"{deployment_name(endpoint, deployment)}-pkg-{digest[:10]}"


def service_host(endpoint: str, deployment: str, namespace: str) -> str:
    return f"{deployment_name(endpoint, deployment)}.{namespace}.svc"


def labels(endpoint: str, component: str, deployment: str | None = None) -> dict[str, str]:
    out = {MANAGED_BY: MANAGER, ENDPOINT: endpoint, COMPONENT: component}
    if deployment is not None:
        out[DEPLOYMENT] = deployment
    return out


def selector(values: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(values.items()))


def inference(endpoint: str, deployment: str | None = None) -> str:
    """The selector of an endpoint's inference objects (Deployments, ReplicaSets, Pods), or one deployment's."""
    return selector(labels(endpoint, INFERENCE, deployment))


def controller(endpoint: str) -> str:
    return selector(labels(endpoint, CONTROLLER))


def gateway(endpoint: str) -> str:
    return selector(labels(endpoint, GATEWAY))


def ours(endpoint: str | None = None, deployment: str | None = None) -> str:
    values = {MANAGED_BY: MANAGER}
    if endpoint is not None:
        values[ENDPOINT] = endpoint
    if deployment is not None:
        values[DEPLOYMENT] = deployment
    return selector(values)


def short_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
