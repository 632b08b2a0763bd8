"""The objects of an endpoint's progressive-rollout controller, with the least privilege it needs.

ServiceAccount + Role + RoleBinding: the controller may get and update two ConfigMaps — the endpoint's routing
(to set the split) and the rollout's state — by name, list pods (to find the gateway replicas; a list cannot
be narrowed by name) and create Events. It cannot read Secrets (the gateway's admin token is mounted), create
or delete anything else, nor touch another endpoint.

The Deployment runs one replica with the Recreate strategy (an update never runs two controllers at once;
their writes are compare-and-swap regardless), hardened like every pod the backend creates, with the API
token mounted only here. A NetworkPolicy admits no ingress: the controller serves nothing.
"""

from __future__ import annotations

from typing import Any

from endpointctl.backends.common.environments.scoring_host import CONTROLLER_PROGRAM
from endpointctl.backends.kubernetes import hardening, naming
from endpointctl.backends.kubernetes.images import GatewayImage
from endpointctl.backends.kubernetes.manifests import ADMIN_TOKEN_KEY, ADMIN_TOKEN_MOUNT, PYTHON, _meta

HEARTBEAT = f"{hardening.SCRATCH}/heartbeat"
# One tick a second of small JSON: a sliver of a core; the limit bounds a leak.
CONTROLLER_RESOURCES: dict[str, Any] = {
    "requests": {"cpu": "50m", "memory": "96Mi"},
    "limits": {"cpu": "500m", "memory": "256Mi"},
}


def controller_manifests(endpoint: str, namespace: str, image: GatewayImage) -> list[dict[str, Any]]:
    name = naming.controller_name(endpoint)
    labels = naming.labels(endpoint, naming.CONTROLLER)
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(name, namespace, labels),
        "automountServiceAccountToken": False,  # mounted by the controller's pod only, which asks for it
    }
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _meta(name, namespace, labels),
        "rules": [
            {
                "apiGroups": [""],
                "resources": ["configmaps"],
                "resourceNames": [naming.routing_name(endpoint), name],
                "verbs": ["get", "update"],
            },
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
            {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
        ],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(name, namespace, labels),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
    }
    check = {
        "exec": {"command": [PYTHON, "-m", CONTROLLER_PROGRAM, "--check-heartbeat", HEARTBEAT]},
        "initialDelaySeconds": 10,
        "periodSeconds": 10,
        "timeoutSeconds": 5,
    }
    pod = hardening.pod_fields(labels)
    pod["automountServiceAccountToken"] = True  # the one pod that talks to the API server
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(name, namespace, labels),
        "spec": {
            "replicas": 1,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": labels},
            "strategy": {"type": "Recreate"},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": name,
                    "containers": [
                        {
                            "name": "controller",
                            "image": image.reference,
                            "imagePullPolicy": image.pull_policy,
                            "command": [
                                *(PYTHON, "-m", CONTROLLER_PROGRAM, "--endpoint", endpoint),
                                *("--admin-token-file", f"{ADMIN_TOKEN_MOUNT}/{ADMIN_TOKEN_KEY}"),
                                *("--heartbeat-file", HEARTBEAT),
                            ],
                            "env": list(hardening.SCRATCH_ENV),
                            "resources": CONTROLLER_RESOURCES,
                            "securityContext": hardening.CONTAINER_SECURITY,
                            "readinessProbe": check,
                            "livenessProbe": {**check, "failureThreshold": 3},
                            "volumeMounts": [
                                {"name": "admin-token", "mountPath": ADMIN_TOKEN_MOUNT, "readOnly": True},
                                hardening.SCRATCH_MOUNT,
                            ],
                        }
                    ],
                    "volumes": [
                        {
                            "name": "admin-token",
                            "secret": {
                                "secretName": naming.admin_token_secret_name(endpoint),
                                "defaultMode": hardening.SECRET_FILE_MODE,
                            },
                        },
                        hardening.SCRATCH_VOLUME,
                    ],
                    **pod,
                },
            },
        },
    }
    isolation = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(name, namespace, labels),
        "spec": {"podSelector": {"matchLabels": dict(labels)}, "policyTypes": ["Ingress"], "ingress": []},
    }
    return [account, role, binding, isolation, deployment]
