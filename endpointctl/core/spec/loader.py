"""Load, validate, serialise: every spec kind goes through the same steps, so errors look the same."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from endpointctl.core.spec.assets import EnvironmentSpec, ModelSpec
from endpointctl.core.spec.deployment import DeploymentSpec
from endpointctl.core.spec.diagnostics import SpecError
from endpointctl.core.spec.endpoint import EndpointSpec
from endpointctl.core.spec.messages import describe, field_path, known_fields
from endpointctl.core.spec.paths import (
    DEPLOYMENT_PATHS,
    ENVIRONMENT_PATHS,
    MODEL_PATHS,
    PathField,
    resolve_paths,
)
from endpointctl.core.spec.rules import Finding, deployment_rules, endpoint_rules
from endpointctl.core.spec.sets import apply_sets
from endpointctl.core.spec.source import Located, parse_yaml, read_text

S = TypeVar("S", bound=BaseModel)
Rules = Callable[[dict[str, Any]], list[Finding]]


def _no_rules(_: dict[str, Any]) -> list[Finding]:
    return []


def _parse(
    model: type[S],
    text: str,
    *,
    source: str,
    base_dir: Path,
    sets: Iterable[str],
    paths: tuple[PathField, ...],
    rules: Rules,
) -> S:
    located = parse_yaml(text, source)
    apply_sets(located, sets)
    return _validate(model, located, base_dir=base_dir, paths=paths, rules=rules)


def _validate(
    model: type[S], located: Located, *, base_dir: Path, paths: tuple[PathField, ...], rules: Rules
) -> S:
    data = located.data
    findings = rules(data) + resolve_paths(data, paths, base_dir)
    diagnostics = [located.diagnostic(path, message) for path, message in findings]
    try:
        spec = model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            path = field_path(error, data)
            known = known_fields(model, path[:-1]) if error["type"] == "extra_forbidden" else None
            diagnostics.append(located.diagnostic(path, describe(error, known)))
        raise SpecError(diagnostics) from None
    if diagnostics:
        raise SpecError(diagnostics)
    return spec


def parse_endpoint(text: str, *, source: str, base_dir: Path, sets: Iterable[str] = ()) -> EndpointSpec:
    return _parse(
        EndpointSpec, text, source=source, base_dir=base_dir, sets=sets, paths=(), rules=endpoint_rules
    )


def parse_deployment(text: str, *, source: str, base_dir: Path, sets: Iterable[str] = ()) -> DeploymentSpec:
    return _parse(
        DeploymentSpec,
        text,
        source=source,
        base_dir=base_dir,
        sets=sets,
        paths=DEPLOYMENT_PATHS,
        rules=deployment_rules,
    )


def parse_model(text: str, *, source: str, base_dir: Path, sets: Iterable[str] = ()) -> ModelSpec:
    return _parse(
        ModelSpec, text, source=source, base_dir=base_dir, sets=sets, paths=MODEL_PATHS, rules=_no_rules
    )


def parse_environment(text: str, *, source: str, base_dir: Path, sets: Iterable[str] = ()) -> EnvironmentSpec:
    return _parse(
        EnvironmentSpec,
        text,
        source=source,
        base_dir=base_dir,
        sets=sets,
        paths=ENVIRONMENT_PATHS,
        rules=_no_rules,
    )


def _load(parse: Callable[..., S], path: Path | str, sets: Iterable[str]) -> S:
    path = Path(path)
    return parse(read_text(path), source=str(path), base_dir=path.absolute().parent, sets=sets)


def load_endpoint(path: Path | str, sets: Iterable[str] = ()) -> EndpointSpec:
    return _load(parse_endpoint, path, sets)


def load_deployment(path: Path | str, sets: Iterable[str] = ()) -> DeploymentSpec:
    return _load(parse_deployment, path, sets)


def load_model(path: Path | str, sets: Iterable[str] = ()) -> ModelSpec:
    return _load(parse_model, path, sets)


def load_environment(path: Path | str, sets: Iterable[str] = ()) -> EnvironmentSpec:
    return _load(parse_environment, path, sets)


def spec_to_dict(spec: BaseModel) -> dict[str, Any]:
    """The YAML form: `$schema` first, absolute paths, no nulls; what `show -o yaml` prints."""
    return spec.model_dump(mode="json", by_alias=True, exclude_none=True)


def dump_yaml(spec: BaseModel) -> str:
    return yaml.safe_dump(spec_to_dict(spec), sort_keys=False, allow_unicode=True)


def restore(model: type[S], data: dict[str, Any]) -> S:
    """A spec from its stored `spec_to_dict` form; paths are already absolute and are not re-checked."""
    return model.model_validate(data)
