"""Specs to ARM JSON and ARM JSON to views: pure functions, no I/O (the dry run uses them as they are)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from endpointctl.core.errors import InvalidInput, NotSupported
from endpointctl.core.spec import DeploymentSpec, EndpointSpec, ProbeSettings
from endpointctl.core.spec.refs import parse_reference
from endpointctl.core.views import DeploymentView, EndpointView, ProvisioningState

AUTH_TO_ARM = {"key": "Key", "aml_token": "AMLToken", "aad_token": "AADToken"}
AUTH_FROM_ARM = {v.lower(): k for k, v in AUTH_TO_ARM.items()}
IDENTITY_TO_ARM = {"system_assigned": "SystemAssigned", "user_assigned": "UserAssigned", "none": "None"}
BACKEND = "azure"


# --- durations ------------------------------------------------------------------------------------
def iso_duration(seconds: Decimal | int) -> str:
    """Seconds as ISO-8601 (`PT5S`, `PT0.5S`, `PT2M`): ARM rejects plain numbers for TimeSpan fields."""
    value = Decimal(seconds)
    if value < 0:
        raise ValueError("durations are never negative")
    minutes, rest = divmod(value, 60)
    text = "PT"
    if minutes:
        text += f"{int(minutes)}M"
    if rest or not minutes:
        text += f"{rest.normalize():f}S"
    return text


def ms_duration(ms: int) -> str:
    return iso_duration(Decimal(ms) / 1000)


_DURATION = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> Decimal:
    """ISO-8601 day/time duration in seconds; also accepts .NET `hh:mm:ss` that older resources return."""
    match = _DURATION.match(text)
    if match and text not in ("P", "PT"):
        parts = {k: Decimal(v) if v else Decimal(0) for k, v in match.groupdict().items()}
        return parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]
    clock = re.match(r"^(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$", text)
    if clock:
        return Decimal(clock[1]) * 3600 + Decimal(clock[2]) * 60 + Decimal(clock[3])
    raise ValueError(f"{text!r} is not an ISO-8601 duration")


# --- asset ids ------------------------------------------------------------------------------------
_ARM_ASSET = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.MachineLearningServices"
    r"/workspaces/[^/]+/(?P<kind>models|environments|codes)/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$",
    re.IGNORECASE,
)


def ref_of_arm_id(asset_id: str) -> str:
    """An ARM asset id as the `azureml:` reference the YAML would use (registry ids stay as they are)."""
    match = _ARM_ASSET.match(asset_id)
    if match and match["kind"].lower() != "codes":
        return f"azureml:{match['name']}:{match['version']}"
    if asset_id.startswith("azureml://"):
        parse_reference(asset_id)
        return asset_id
    # Codes (and anything unrecognised) keep the full id, as `az ml online-deployment show` prints it.
    return f"azureml:{asset_id}"


# --- endpoints ------------------------------------------------------------------------------------
def check_managed_endpoint(spec: EndpointSpec) -> None:
    if spec.compute is not None:
        raise NotSupported(
            f"endpoint {spec.name}: `compute` makes it a Kubernetes online endpoint; the azure backend "
            "deploys managed online endpoints (use the kubernetes backend for attached clusters)"
        )


def wire_traffic(traffic: Mapping[str, int]) -> dict[str, int]:
    # As the SDK does: ARM compares deployment names case-insensitively and keeps only live weights.
    return {name.lower(): pct for name, pct in traffic.items() if pct}


def endpoint_body(spec: EndpointSpec, location: str) -> dict[str, Any]:
    check_managed_endpoint(spec)
    properties: dict[str, Any] = {
        "authMode": AUTH_TO_ARM[spec.auth_mode],
        "traffic": wire_traffic(spec.traffic),
        "mirrorTraffic": wire_traffic(spec.mirror_traffic),
    }
    if spec.description is not None:
        properties["description"] = spec.description
    if spec.public_network_access is not None:
        properties["publicNetworkAccess"] = spec.public_network_access.capitalize()
    body: dict[str, Any] = {"location": location, "kind": "Managed", "properties": properties}
    if spec.tags:
        body["tags"] = dict(spec.tags)
    if spec.identity is not None:
        identity: dict[str, Any] = {"type": IDENTITY_TO_ARM[spec.identity.type]}
        if spec.identity.user_assigned_identities:
            identity["userAssignedIdentities"] = {
                u.resource_id: {} for u in spec.identity.user_assigned_identities
            }
        body["identity"] = identity
    return body


def endpoint_view(body: Mapping[str, Any], deployments: list[str], *, context: str) -> EndpointView:
    props = _dict(body.get("properties"))
    traffic = {**dict.fromkeys(deployments, 0), **_int_map(props.get("traffic"), deployments)}
    mirror = _int_map(props.get("mirrorTraffic"), deployments)
    spec_data: dict[str, Any] = {
        "name": body.get("name"),
        "auth_mode": AUTH_FROM_ARM.get(str(props.get("authMode", "Key")).lower(), "key"),
        # The rollout's state tags are endpointctl's bookkeeping, not part of the user's spec.
        "tags": {k: v for k, v in _dict(body.get("tags")).items() if not k.startswith("endpointctl.rollout")},
        "traffic": traffic,
        "mirror_traffic": {k: v for k, v in mirror.items() if v},
    }
    if props.get("description"):
        spec_data["description"] = props["description"]
    if isinstance(props.get("publicNetworkAccess"), str):
        spec_data["public_network_access"] = props["publicNetworkAccess"].lower()
    identity = _dict(body.get("identity"))
    if identity.get("type"):
        kind = {v.lower(): k for k, v in IDENTITY_TO_ARM.items()}.get(str(identity["type"]).lower())
        if kind is not None:
            spec_data["identity"] = {"type": kind}
            uai = _dict(identity.get("userAssignedIdentities"))
            if uai:
                spec_data["identity"]["user_assigned_identities"] = [{"resource_id": k} for k in uai]
    spec = EndpointSpec.model_validate(spec_data)
    return EndpointView(
        BACKEND,
        spec,
        _state(props.get("provisioningState")),
        scoring_uri=_opt_str(props.get("scoringUri")),
        openapi_uri=_opt_str(props.get("swaggerUri")),
        location=str(body.get("location") or ""),
        context=context,
    )


# --- deployments ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class AssetIds:
    """The ARM ids a deployment's model, code and environment resolve to."""

    model: str | None
    code: str | None
    environment: str | None


def check_managed_deployment(spec: DeploymentSpec) -> None:
    problems = []
    if spec.type != "managed":
        problems.append("type: kubernetes deployments go to the kubernetes backend")
    if not spec.instance_type:
        problems.append("instance_type is required for a managed deployment (e.g. Standard_DS3_v2)")
    if spec.resources is not None:
        problems.append("resources apply to kubernetes deployments only")
    if problems:
        raise InvalidInput(f"deployment {spec.endpoint_name}/{spec.name}: " + "; ".join(problems))
    if spec.data_collector is not None:
        raise NotSupported(
            f"deployment {spec.endpoint_name}/{spec.name}: data_collector is not supported by the azure "
            "backend yet; remove it or deploy it with `az ml`"
        )


def _probe(p: ProbeSettings) -> dict[str, Any]:
    return {
        "initialDelay": iso_duration(p.initial_delay),
        "period": iso_duration(p.period),
        "timeout": iso_duration(p.timeout),
        "successThreshold": p.success_threshold,
        "failureThreshold": p.failure_threshold,
    }


def deployment_body(spec: DeploymentSpec, location: str, ids: AssetIds) -> dict[str, Any]:
    check_managed_deployment(spec)
    rs = spec.request_settings
    properties: dict[str, Any] = {
        "endpointComputeType": "Managed",
        "instanceType": spec.instance_type,
        "appInsightsEnabled": spec.app_insights_enabled,
        "requestSettings": {
            "requestTimeout": ms_duration(rs.request_timeout_ms),
            "maxConcurrentRequestsPerInstance": rs.max_concurrent_requests_per_instance,
            "maxQueueWait": ms_duration(rs.max_queue_wait_ms),
        },
        "livenessProbe": _probe(spec.liveness_probe),
        "readinessProbe": _probe(spec.readiness_probe),
    }
    if spec.description is not None:
        properties["description"] = spec.description
    if ids.model is not None:
        properties["model"] = ids.model
    if spec.model_mount_path is not None:
        properties["modelMountPath"] = spec.model_mount_path
    if spec.code_configuration is not None:
        if ids.code is None:
            raise InvalidInput(
                f"deployment {spec.name}: code_configuration.code did not resolve to a code asset"
            )
        properties["codeConfiguration"] = {
            "codeId": ids.code,
            "scoringScript": spec.code_configuration.scoring_script,
        }
    if ids.environment is not None:
        properties["environmentId"] = ids.environment
    if spec.environment_variables:
        properties["environmentVariables"] = dict(spec.environment_variables)
    if spec.egress_public_network_access is not None:
        properties["egressPublicNetworkAccess"] = spec.egress_public_network_access.capitalize()
    scale = spec.scale_settings
    if scale is None or scale.type == "default":
        properties["scaleSettings"] = {"scaleType": "Default"}
    else:
        properties["scaleSettings"] = {
            "scaleType": "TargetUtilization",
            "minInstances": scale.min_instances,
            "maxInstances": scale.max_instances,
            "pollingInterval": iso_duration(scale.polling_interval),
            "targetUtilizationPercentage": scale.target_utilization_percentage,
        }
    body: dict[str, Any] = {
        "location": location,
        "sku": {"name": "Default", "capacity": spec.instance_count},
        "properties": properties,
    }
    if spec.tags:
        body["tags"] = dict(spec.tags)
    return body


def scale_body(instance_count: int) -> dict[str, Any]:
    """PATCH body (PartialMinimalTrackedResourceWithSku) for a change of instance count only."""
    return {"sku": {"capacity": instance_count}}


def _seconds(value: Any, default: int) -> int:
    if not isinstance(value, str):
        return default
    try:
        return int(parse_duration(value))
    except ValueError:
        return default


def _ms(value: Any, default: int) -> int:
    if not isinstance(value, str):
        return default
    try:
        return int(parse_duration(value) * 1000)
    except ValueError:
        return default


def _probe_spec(value: Any) -> dict[str, Any]:
    p = _dict(value)
    d = ProbeSettings()
    return {
        "initial_delay": _seconds(p.get("initialDelay"), d.initial_delay),
        "period": _seconds(p.get("period"), d.period),
        "timeout": _seconds(p.get("timeout"), d.timeout),
        "success_threshold": int(p.get("successThreshold") or d.success_threshold),
        "failure_threshold": int(p.get("failureThreshold") or d.failure_threshold),
    }


def deployment_spec(body: Mapping[str, Any], endpoint: str) -> DeploymentSpec:
    props = _dict(body.get("properties"))
    rs = _dict(props.get("requestSettings"))
    data: dict[str, Any] = {
        "name": body.get("name"),
        "endpoint_name": endpoint,
        "type": "managed",
        "tags": _dict(body.get("tags")),
        "instance_type": props.get("instanceType"),
        "instance_count": int(_dict(body.get("sku")).get("capacity") or 1),
        "app_insights_enabled": bool(props.get("appInsightsEnabled", False)),
        "environment_variables": _dict(props.get("environmentVariables")),
        "request_settings": {
            "request_timeout_ms": _ms(rs.get("requestTimeout"), 5000),
            "max_concurrent_requests_per_instance": int(rs.get("maxConcurrentRequestsPerInstance") or 1),
            "max_queue_wait_ms": _ms(rs.get("maxQueueWait"), 500),
        },
        "liveness_probe": _probe_spec(props.get("livenessProbe")),
        "readiness_probe": _probe_spec(props.get("readinessProbe")),
    }
    if props.get("description"):
        data["description"] = props["description"]
    if isinstance(props.get("model"), str):
        data["model"] = ref_of_arm_id(props["model"])
    if isinstance(props.get("modelMountPath"), str):
        data["model_mount_path"] = props["modelMountPath"]
    if isinstance(props.get("environmentId"), str):
        data["environment"] = ref_of_arm_id(props["environmentId"])
    code = _dict(props.get("codeConfiguration"))
    if code.get("codeId"):
        data["code_configuration"] = {
            "code": ref_of_arm_id(str(code["codeId"])),
            "scoring_script": code.get("scoringScript"),
        }
    if isinstance(props.get("egressPublicNetworkAccess"), str):
        data["egress_public_network_access"] = props["egressPublicNetworkAccess"].lower()
    scale = _dict(props.get("scaleSettings"))
    if str(scale.get("scaleType", "Default")).lower() == "targetutilization":
        data["scale_settings"] = {
            "type": "target_utilization",
            "min_instances": int(scale.get("minInstances") or 1),
            "max_instances": int(scale.get("maxInstances") or 1),
            "polling_interval": _seconds(scale.get("pollingInterval"), 1),
            "target_utilization_percentage": int(scale.get("targetUtilizationPercentage") or 70),
        }
    return DeploymentSpec.model_validate(data)


def deployment_view(
    body: Mapping[str, Any], endpoint: str, *, state: ProvisioningState | None = None, reason: str = ""
) -> DeploymentView:
    props = _dict(body.get("properties"))
    return DeploymentView(
        BACKEND,
        deployment_spec(body, endpoint),
        state or _state(props.get("provisioningState")),
        reason=reason,
    )


# --- helpers ----------------------------------------------------------------------------------------
def _state(value: Any) -> ProvisioningState:
    by_lower = {s.value.lower(): s for s in ProvisioningState}
    return by_lower.get(str(value or "Succeeded").lower(), ProvisioningState.UPDATING)


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int_map(value: Any, names: list[str]) -> dict[str, int]:
    # ARM lowercases traffic keys; show them under the deployments' own spelling.
    by_lower = {n.lower(): n for n in names}
    return {by_lower.get(str(k).lower(), str(k)): int(v) for k, v in _dict(value).items()}
