"""A deployment's state from its Deployment, ReplicaSets and Pods: pure functions over the API's dicts."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from endpointctl.backends.kubernetes import naming
from endpointctl.core.views import InstanceState, InstanceView, ProvisioningState, RolloutView

# Waiting reasons that do not resolve by waiting: a crashing init() or a missing image needs a new revision.
FATAL_WAITING = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
HASH_LABEL = "pod-template-hash"


@dataclass(frozen=True)
class DeploymentStatus:
    state: ProvisioningState
    revision: int
    instances: tuple[InstanceView, ...]
    rollout: RolloutView | None
    reason: str


def revision_of(obj: Mapping[str, Any]) -> int:
    try:
        return int((obj.get("metadata", {}).get("annotations") or {}).get(naming.REVISION_ANNOTATION, "0"))
    except ValueError:
        return 0


def _hash(obj: Mapping[str, Any]) -> str | None:
    value = (obj.get("metadata", {}).get("labels") or {}).get(HASH_LABEL)
    return str(value) if value is not None else None


def pod_problem(pod: Mapping[str, Any]) -> str | None:
    status = pod.get("status") or {}
    name = pod.get("metadata", {}).get("name", "?")
    for init in status.get("initContainerStatuses") or []:
        state = init.get("state") or {}
        waiting, terminated = state.get("waiting") or {}, state.get("terminated") or {}
        if waiting.get("reason") in FATAL_WAITING:
            detail = (init.get("lastState") or {}).get("terminated") or {}
            extra = f" (exit code {detail['exitCode']})" if "exitCode" in detail else ""
            return f"pod {name}: {init.get('name')}: {waiting['reason']}{extra}: {waiting.get('message', '')}".rstrip(
                ": "
            )
        if terminated and terminated.get("exitCode", 0) != 0:
            return f"pod {name}: {init.get('name')} exited with code {terminated.get('exitCode')}: {terminated.get('message') or terminated.get('reason', '')}".rstrip(
                ": "
            )
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in FATAL_WAITING:
            return f"pod {name}: {container.get('name')}: {waiting['reason']}: {waiting.get('message', '')}".rstrip(
                ": "
            )
    return None


def instance_of(pod: Mapping[str, Any], revisions: Mapping[str, int]) -> InstanceView:
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    containers = status.get("containerStatuses") or []
    restarts = sum(int(c.get("restartCount", 0)) for c in containers)
    problem = pod_problem(pod)
    if meta.get("deletionTimestamp"):
        state = InstanceState.TERMINATING
    elif problem is not None:
        waiting = any(
            ((c.get("state") or {}).get("waiting") or {}).get("reason") == "CrashLoopBackOff"
            for c in containers
        )
        state = InstanceState.RESTARTING if waiting else InstanceState.FAILED
    elif containers and all(c.get("ready") for c in containers):
        state = InstanceState.READY
    elif any((c.get("state") or {}).get("running") for c in containers):
        state = InstanceState.STARTING
    else:
        state = InstanceState.PENDING
    return InstanceView(
        id=str(meta.get("name", "")),
        state=state,
        revision=revisions.get(_hash(pod) or "", 0),
        restarts=restarts,
        started_at=None,
        address=status.get("podIP"),
        reason=problem or "",
    )


def deployment_status(
    deployment: Mapping[str, Any],
    replicasets: Sequence[Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
) -> DeploymentStatus:
    meta = deployment.get("metadata") or {}
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    annotations = meta.get("annotations") or {}
    revision = revision_of(deployment)
    revisions = {h: revision_of(rs) for rs in replicasets if (h := _hash(rs)) is not None}
    current = {h for h, r in revisions.items() if r == revision and revision > 0}
    instances = tuple(sorted((instance_of(p, revisions) for p in pods), key=lambda i: i.id))
    desired = int(spec.get("replicas", 1))
    updated = int(status.get("updatedReplicas", 0))
    ready = int(status.get("readyReplicas", 0))
    total = int(status.get("replicas", 0))
    step = max(1, math.ceil(desired * 0.2))
    batches = max(1, math.ceil(desired / step))
    rollout = RolloutView(
        revision=revision,
        batch=min(batches, 1 + min(updated, ready) // step),
        batches=batches,
        updated=updated,
        desired=desired,
        phase="complete" if updated == desired == ready == total else "rolling",
    )
    if meta.get("deletionTimestamp"):
        return DeploymentStatus(ProvisioningState.DELETING, revision, instances, rollout, "")
    if naming.FAILURE_ANNOTATION in annotations:
        return DeploymentStatus(
            ProvisioningState.FAILED, revision, instances, rollout, annotations[naming.FAILURE_ANNOTATION]
        )
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            reason = f"ProgressDeadlineExceeded: {condition.get('message', '')}".rstrip(": ")
            return DeploymentStatus(ProvisioningState.FAILED, revision, instances, rollout, reason)
    for pod in pods:
        if _hash(pod) in current and not (pod.get("metadata") or {}).get("deletionTimestamp"):
            problem = pod_problem(pod)
            if problem is not None:
                return DeploymentStatus(ProvisioningState.FAILED, revision, instances, rollout, problem)
    observed = int(status.get("observedGeneration", 0)) >= int(meta.get("generation", 1))
    if observed and updated == desired and ready >= desired and total == desired and revision > 0:
        return DeploymentStatus(ProvisioningState.SUCCEEDED, revision, instances, rollout, "")
    old_running = any(
        int((rs.get("status") or {}).get("replicas", 0)) > 0 for rs in replicasets if _hash(rs) not in current
    )
    if revision <= 1 and not old_running:
        state = ProvisioningState.CREATING
    elif old_running or not observed:
        state = ProvisioningState.UPDATING
    else:
        state = ProvisioningState.SCALING
    return DeploymentStatus(state, revision, instances, rollout, "")


def gateway_ready(deployment: Mapping[str, Any] | None) -> bool:
    if deployment is None:
        return False
    status = deployment.get("status") or {}
    return int(status.get("readyReplicas", 0)) >= 1 and int(status.get("updatedReplicas", 0)) >= 1


def scoring_address(service: Mapping[str, Any] | None, node_address: str | None) -> str | None:
    """`host:port` clients reach the gateway at: the LoadBalancer's ingress, else a node and the NodePort."""
    if service is None:
        return None
    spec = service.get("spec") or {}
    ports = spec.get("ports") or [{}]
    for ingress in ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
        host = ingress.get("ip") or ingress.get("hostname")
        if host:
            return f"{host}:{ports[0].get('port', 80)}"
    node_port = ports[0].get("nodePort")
    if spec.get("type") == "NodePort" and node_port and node_address:
        return f"{node_address}:{node_port}"
    return None
