"""What every pod the backend creates shares so a platform team accepts it: security contexts, scratch space,
spreading over nodes, disruption budgets, and the endpoint's NetworkPolicies. Pure data, no cluster.
"""

from __future__ import annotations

from typing import Any

from endpointctl.backends.kubernetes import naming

# A high UID/GID no image's own users (nor the node's) take, so a container escape lands on nobody.
RUN_AS = 10001
SCRATCH = "/tmp"

POD_SECURITY: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": RUN_AS,
    "runAsGroup": RUN_AS,
    # emptyDir volumes become group-owned by it, so every container of the pod can write them.
    "fsGroup": RUN_AS,
    # Re-own a volume only when its root does not already match (not every file at every start); read-only
    # claims (the model's pvc://) are never re-owned.
    "fsGroupChangePolicy": "OnRootMismatch",
    "seccompProfile": {"type": "RuntimeDefault"},
}

CONTAINER_SECURITY: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "privileged": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
}

# The root filesystem is read-only: what the containers write goes to emptyDir volumes — the app folder (the
# staged model and code) and this scratch folder for temporary files (the storage-initializer's downloads) and
# HOME (user code may write dot-files there).
# Key and token files: readable by the pod's group (fsGroup) only, not by every user of the image.
SECRET_FILE_MODE = 0o440

SCRATCH_VOLUME: dict[str, Any] = {"name": "scratch", "emptyDir": {}}
SCRATCH_MOUNT: dict[str, Any] = {"name": "scratch", "mountPath": SCRATCH}
SCRATCH_ENV: list[dict[str, str]] = [
    {"name": "HOME", "value": SCRATCH},
    {"name": "TMPDIR", "value": SCRATCH},
]

# The gateway is an asyncio proxy: a fraction of a core and little memory carry it; the limit bounds a leak.
GATEWAY_RESOURCES: dict[str, Any] = {
    "requests": {"cpu": "100m", "memory": "128Mi"},
    "limits": {"cpu": "1", "memory": "512Mi"},
}


def pod_fields(labels: dict[str, str]) -> dict[str, Any]:
    """Pod-spec fields of every pod: no API access, hardened, spread over nodes."""
    return {
        # Neither the gateway nor the inference server talks to the API server.
        "automountServiceAccountToken": False,
        "securityContext": POD_SECURITY,
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                # A preference: a one-node cluster (or a full one) still runs every replica.
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": dict(labels)},
                # Spread each revision's pods on their own, so a rollout does not count the old ones.
                "matchLabelKeys": ["pod-template-hash"],
            }
        ],
    }


def disruption_budget(name: str, namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    """One pod at a time may be evicted (node drains, cluster upgrades).

    maxUnavailable 1 rather than minAvailable: with minAvailable 1 a one-replica deployment would allow no
    eviction at all and block every node drain; with maxUnavailable 1 its pod can be drained (the rolling
    updates' maxUnavailable 0 keeps rollouts themselves at full strength, and the gateway runs 2 replicas by
    default, so its endpoint stays served). Unhealthy pods may always be evicted: a crash-looping pod must
    not block a drain.
    """
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": dict(labels)},
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }


def network_policies(
    endpoint: str, namespace: str, scoring_port: int, gateway_port: int, admin_port: int
) -> list[dict[str, Any]]:
    """The endpoint's inference pods accept only its gateway pods, on the scoring port; its gateway pods
    accept clients on the endpoint's port and the admin port (token-protected: the API server's service
    proxy, which the backend reads metrics through, comes from an address no pod or namespace selector names).
    """
    gateway = naming.labels(endpoint, naming.GATEWAY)
    inference = naming.labels(endpoint, naming.INFERENCE)
    gateway_policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": naming.gateway_name(endpoint), "namespace": namespace, "labels": dict(gateway)},
        "spec": {
            "podSelector": {"matchLabels": dict(gateway)},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"ports": [{"protocol": "TCP", "port": gateway_port}]},
                {"ports": [{"protocol": "TCP", "port": admin_port}]},
            ],
        },
    }
    inference_policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": naming.inference_policy_name(endpoint),
            "namespace": namespace,
            "labels": dict(inference),
        },
        "spec": {
            "podSelector": {"matchLabels": inference},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [{"podSelector": {"matchLabels": dict(gateway)}}],
                    "ports": [{"protocol": "TCP", "port": scoring_port}],
                }
            ],
        },
    }
    return [gateway_policy, inference_policy]
