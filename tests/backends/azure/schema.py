"""Strict request-body checks against the REST models generated for Azure ML's ARM API (azure-ai-ml).

The generated models deserialize leniently (unknown keys are kept, types are not checked), so this walks
their field declarations instead: unknown keys, missing required fields, read-only fields, enum values,
ISO-8601 durations, discriminators and JSON types all fail as ARM's own validation fails.

The models shipped in azure-ai-ml 1.35 (`arm_ml_service`) are generated for api-version 2025-12-01, a
superset of the pinned 2024-04-01 for the resources endpointctl sends; the bodies checked here are the
2024-04-01 shapes of reference §7.
"""

from __future__ import annotations

import datetime
import enum
import re
import types
import typing
from functools import cache
from typing import Any

import azure.ai.ml._restclient.arm_ml_service.models as rest
import azure.ai.ml._restclient.arm_ml_service.models._models as rest_models
from azure.ai.ml._restclient.arm_ml_service._utils.model_base import Model

_DURATION = re.compile(
    r"^P(?!$)(\d+(\.\d+)?Y)?(\d+(\.\d+)?M)?(\d+(\.\d+)?W)?(\d+(\.\d+)?D)?(T(?=\d)(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?(\d+(\.\d+)?S)?)?$"
)
_NAMESPACE = {**vars(rest_models), "_models": rest}


class Field(typing.NamedTuple):
    rest_name: str
    annotation: Any
    required: bool
    writable: bool
    discriminator: bool
    owner: str


@cache
def fields_of(cls: type[Model]) -> dict[str, Field]:
    hints = typing.get_type_hints(cls, globalns=_NAMESPACE, localns=_NAMESPACE)
    out: dict[str, Field] = {}
    for klass in reversed(cls.__mro__):
        if not (isinstance(klass, type) and issubclass(klass, Model)) or klass is Model:
            continue
        for attr, value in vars(klass).items():
            if attr.startswith("_") or not hasattr(value, "_visibility"):
                continue
            rest_name = value._rest_name_input or attr
            annotation = hints.get(attr, Any)
            required = not _optional(annotation)
            visibility = value._visibility or ["read", "create", "update"]
            writable = "create" in visibility or "update" in visibility
            out[rest_name] = Field(
                rest_name, annotation, required, writable, value._is_discriminator, klass.__name__
            )
    return out


def _optional(annotation: Any) -> bool:
    return _is_union(annotation) and type(None) in typing.get_args(annotation)


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def validate(model: str | type[Model], value: Any, path: str = "") -> list[str]:
    """Every problem with `value` as a request body of `model` (a class of arm_ml_service.models)."""
    cls = getattr(rest, model) if isinstance(model, str) else model
    return _model(cls, value, path or "body")


def _model(cls: type[Model], value: Any, path: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: expected an object, got {_json_type(value)}"]
    concrete = _concrete(cls, value)
    if isinstance(concrete, str):
        return [f"{path}: {concrete}"]
    cls = concrete
    fields = fields_of(cls)
    problems: list[str] = []
    for key, item in value.items():
        f = fields.get(key)
        if f is None:
            problems.append(f"{path}.{key}: unknown property of {cls.__name__}")
            continue
        if not f.writable:
            problems.append(f"{path}.{key}: read-only property of {cls.__name__}")
            continue
        if item is None and not f.required:
            continue
        problems += _value(f.annotation, item, f"{path}.{key}")
    for f in fields.values():
        if f.required and f.writable and f.rest_name not in value:
            problems.append(f"{path}.{f.rest_name}: required property of {cls.__name__} is missing")
    return problems


def _concrete(cls: type[Model], value: dict[str, Any]) -> type[Model] | str:
    mapping: dict[str, type[Model]] | None = getattr(cls, "__mapping__", None)
    if not mapping:
        return cls
    disc = next((f for f in fields_of(cls).values() if f.discriminator), None)
    if disc is None:
        return cls
    kind = value.get(disc.rest_name)
    if kind is None:
        return f"{disc.rest_name} is required (one of: {', '.join(sorted(mapping))})"
    if kind not in mapping:
        return f"{disc.rest_name}: {kind!r} is not one of: {', '.join(sorted(mapping))}"
    return mapping[kind]


def _value(annotation: Any, value: Any, path: str) -> list[str]:
    if isinstance(annotation, typing.ForwardRef):
        annotation = eval(annotation.__forward_arg__, _NAMESPACE)
    if isinstance(annotation, str):
        annotation = eval(annotation, _NAMESPACE)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if _is_union(annotation):
        members = [a for a in args if a is not type(None)]
        enums = [a for a in members if isinstance(a, type) and issubclass(a, enum.Enum)]
        if enums:
            allowed = {e.value for e in enums[0]}
            if not isinstance(value, str) or value not in allowed:
                return [f"{path}: {value!r} is not one of: {', '.join(sorted(allowed))}"]
            return []
        if len(members) == 1:
            return _value(members[0], value, path)
        for member in members:
            if not _value(member, value, path):
                return []
        return [f"{path}: {value!r} matches none of {members}"]
    if origin is typing.Literal:
        literals = [a.value if isinstance(a, enum.Enum) else a for a in args]
        return [] if value in literals else [f"{path}: must be {' or '.join(map(repr, literals))}"]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{path}: expected an object, got {_json_type(value)}"]
        return [p for k, v in value.items() for p in _value(args[1], v, f"{path}.{k}")]
    if origin is list:
        if not isinstance(value, list):
            return [f"{path}: expected an array, got {_json_type(value)}"]
        return [p for i, v in enumerate(value) for p in _value(args[0], v, f"{path}[{i}]")]
    if isinstance(annotation, type) and issubclass(annotation, Model):
        return _model(annotation, value, path)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        allowed = {e.value for e in annotation}
        return [] if value in allowed else [f"{path}: {value!r} is not one of: {', '.join(sorted(allowed))}"]
    if annotation is datetime.timedelta:
        if not isinstance(value, str) or not _DURATION.match(value):
            return [f"{path}: {value!r} is not an ISO-8601 duration (e.g. PT5S)"]
        return []
    if annotation is datetime.datetime:
        try:
            datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return [f"{path}: {value!r} is not an ISO-8601 date-time"]
        return []
    if annotation is bool:
        return [] if isinstance(value, bool) else [f"{path}: expected a boolean, got {_json_type(value)}"]
    if annotation is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{path}: expected an integer, got {_json_type(value)}"]
    if annotation is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return [] if ok else [f"{path}: expected a number, got {_json_type(value)}"]
    if annotation is str:
        return [] if isinstance(value, str) else [f"{path}: expected a string, got {_json_type(value)}"]
    return []


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
    }.get(type(value), type(value).__name__)
