"""Pydantic's errors, said the way an operator reads them, at the field path the YAML uses."""

from __future__ import annotations

import difflib
from typing import Any, get_args

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from endpointctl.core.spec.source import FieldPath


def field_path(error: ErrorDetails, data: Any) -> FieldPath:
    """Drop the union tags pydantic puts in `loc` by walking the data the loc points into."""
    loc = error["loc"]
    out: list[str | int] = []
    node = data
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(node, dict) and isinstance(part, str):
            if part in node:
                out.append(part)
                node = node[part]
                continue
            if last and error["type"] in ("missing", "extra_forbidden"):
                out.append(part)  # the absent or unknown key itself
            continue  # a union tag such as "inline" or "target_utilization"
        if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
            continue
    return tuple(out)


def known_fields(model: type[BaseModel], path: FieldPath) -> list[str]:
    """The YAML keys valid at `path` (the parent of an unknown key), for a "did you mean" hint."""
    models: list[type[BaseModel]] = [model]
    for part in path:
        if isinstance(part, int):
            continue
        following: list[type[BaseModel]] = []
        for current in models:
            for name, info in current.model_fields.items():
                if (info.alias or name) == part:
                    following += _models_in(info.annotation)
        if not following:
            return []
        models = following
    return sorted({info.alias or name for m in models for name, info in m.model_fields.items()})


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def describe(error: ErrorDetails, known: list[str] | None = None) -> str:
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        key = str(error["loc"][-1]) if error["loc"] else ""
        if key in (known or []):
            # Valid in another variant of a union, e.g. min_instances with scale_settings.type: default.
            return "not valid with the `type` given here"
        close = difflib.get_close_matches(key, known or [], n=1)
        return f"unknown field; did you mean {close[0]}?" if close else "unknown field (not in the schema)"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "must be an integer"
    if kind == "greater_than_equal":
        return f"must be an integer ≥ {ctx['ge']}"
    if kind == "less_than_equal":
        return f"must be an integer ≤ {ctx['le']}"
    if kind in ("greater_than", "less_than"):
        return error["msg"].replace("Input should be", "must be")
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "")
        return f"must be one of: {expected.replace(' or ', ', ')}"
    if kind == "string_type":
        return "must be a string"
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "must be a mapping"
    if kind == "list_type":
        return "must be a list"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"])).removeprefix("Value error, ")
    if kind in ("asset_form", "scale_type"):
        return error["msg"]
    return error["msg"][0].lower() + error["msg"][1:] if error["msg"] else kind
