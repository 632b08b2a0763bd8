"""YAML specs for endpoints, deployments, models and environments, faithful to the `az ml` schemas.

Every loader reports all problems at once as a `SpecError` whose diagnostics name the file, line,
column and field path; nothing is changed because of an invalid spec.
"""

from endpointctl.core.spec.assets import (
    BuildContext,
    EnvironmentSpec,
    InferenceConfig,
    InlineEnvironment,
    InlineModel,
    ModelSpec,
    Route,
)
from endpointctl.core.spec.deployment import (
    CodeConfiguration,
    DefaultScaleSettings,
    DeploymentSpec,
    ProbeSettings,
    RequestSettings,
    Resources,
    TargetUtilizationScaleSettings,
)
from endpointctl.core.spec.diagnostics import Diagnostic, SpecError
from endpointctl.core.spec.endpoint import EndpointSpec, Identity
from endpointctl.core.spec.loader import (
    dump_yaml,
    load_deployment,
    load_endpoint,
    load_environment,
    load_model,
    parse_deployment,
    parse_endpoint,
    parse_environment,
    parse_model,
    restore,
    spec_to_dict,
)
from endpointctl.core.spec.refs import AssetRef, parse_reference

__all__ = [
    "AssetRef",
    "BuildContext",
    "CodeConfiguration",
    "DefaultScaleSettings",
    "DeploymentSpec",
    "Diagnostic",
    "EndpointSpec",
    "EnvironmentSpec",
    "Identity",
    "InferenceConfig",
    "InlineEnvironment",
    "InlineModel",
    "ModelSpec",
    "ProbeSettings",
    "RequestSettings",
    "Resources",
    "Route",
    "SpecError",
    "TargetUtilizationScaleSettings",
    "dump_yaml",
    "load_deployment",
    "load_endpoint",
    "load_environment",
    "load_model",
    "parse_deployment",
    "parse_endpoint",
    "parse_environment",
    "parse_model",
    "parse_reference",
    "restore",
    "spec_to_dict",
]
