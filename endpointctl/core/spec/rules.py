"""Checks the models cannot express alone: fields that belong to one kind, and name-length limits."""

from __future__ import annotations

from typing import Any

from endpointctl.core.spec.source import FieldPath

MANAGED_ONLY_ENDPOINT = ("identity", "public_network_access")
MANAGED_ONLY_DEPLOYMENT = ("egress_public_network_access", "data_collector")
KUBERNETES_ONLY_DEPLOYMENT = ("resources",)
KUBERNETES_NAMES = (6, 62)

Finding = tuple[FieldPath, str]


def endpoint_rules(data: dict[str, Any]) -> list[Finding]:
    if data.get("compute") is None:
        return []
    return [
        ((key,), "only valid for managed endpoints (this one has `compute`, so it is a kubernetes endpoint)")
        for key in MANAGED_ONLY_ENDPOINT
        if key in data
    ]


def deployment_rules(data: dict[str, Any]) -> list[Finding]:
    kind = data.get("type", "managed")
    kind = kind.lower() if isinstance(kind, str) else kind
    findings: list[Finding] = []
    if kind == "kubernetes":
        findings += [
            ((key,), "only valid for managed deployments") for key in MANAGED_ONLY_DEPLOYMENT if key in data
        ]
        name, endpoint = data.get("name"), data.get("endpoint_name")
        if isinstance(name, str) and isinstance(endpoint, str):
            low, high = KUBERNETES_NAMES
            if not low <= len(name) + len(endpoint) <= high:
                findings.append(
                    (("name",), f"with endpoint_name must be {low}–{high} characters together on kubernetes")
                )
    elif kind == "managed":
        findings += [
            ((key,), "only valid for kubernetes deployments (`type: kubernetes`)")
            for key in KUBERNETES_ONLY_DEPLOYMENT
            if key in data
        ]
        if data.get("instance_type") is None:
            findings.append((("instance_type",), "required for managed deployments (e.g. Standard_DS3_v2)"))
    return findings
