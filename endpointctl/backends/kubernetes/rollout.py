"""The reconcile step of a rollout: roll a failed rollout back and record it as an Event on the Deployment.

No agent of ours runs in the cluster, so the rollout's Operation — what the façade follows after create/update —
does this when it sees the rollout fail. The Deployment then keeps the failure in an annotation until the next
apply, so later reads (which never act) report it instead of rolling back again.
"""

from __future__ import annotations

import contextlib
import copy
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from endpointctl.backends.kubernetes import naming
from endpointctl.backends.kubernetes.client import KubeClient
from endpointctl.backends.kubernetes.status import HASH_LABEL, revision_of
from endpointctl.core.errors import Conflict, EndpointctlError


async def roll_back(
    client: KubeClient, deployment: dict[str, Any], replicasets: list[dict[str, Any]], reason: str
) -> tuple[dict[str, Any], str]:
    """Back to the previous revision (or, for a first revision, only marked failed); the Deployment and why."""
    revision = revision_of(deployment)
    previous = [rs for rs in replicasets if 0 < revision_of(rs) < revision]
    body = copy.deepcopy(deployment)
    annotations = body["metadata"].setdefault("annotations", {})
    if previous:
        # What `kubectl rollout undo` does: the previous ReplicaSet's template becomes the Deployment's.
        template = copy.deepcopy(max(previous, key=revision_of)["spec"]["template"])
        template["metadata"].get("labels", {}).pop(HASH_LABEL, None)
        body["spec"]["template"] = template
        old_spec = (template["metadata"].get("annotations") or {}).get(naming.SPEC_ANNOTATION)
        if old_spec:
            annotations[naming.SPEC_ANNOTATION] = old_spec
        annotations[naming.ROLLED_BACK_ANNOTATION] = str(revision)
        reason = f"{reason}; rolled back to revision {revision_of(max(previous, key=revision_of))}"
    annotations[naming.FAILURE_ANNOTATION] = reason
    body.pop("status", None)
    try:
        replaced = await client.replace(body)
    except Conflict:
        return deployment, reason  # someone else changed it; the next poll decides again
    await record_event(client, replaced, "RolledBack" if previous else "RolloutFailed", reason)
    return replaced, reason


async def record_event(client: KubeClient, deployment: Mapping[str, Any], reason: str, message: str) -> None:
    """A Kubernetes Event on the Deployment: `events`, `kubectl describe` and the TUI show what we did."""
    meta = deployment["metadata"]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{meta['name']}.{secrets.token_hex(8)}",
            "namespace": client.target.namespace,
        },
        "involvedObject": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": meta["name"],
            "namespace": client.target.namespace,
            **({"uid": meta["uid"]} if meta.get("uid") else {}),
        },
        "reason": reason,
        "message": message[:1024],
        "type": "Warning",
        "source": {"component": naming.MANAGER},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    # The rollback happened; an identity that may not create events only loses its record.
    with contextlib.suppress(EndpointctlError):
        await client.create(event)
