"""`--set path.to.field=value`: edits applied to the raw YAML data before validation, as `az ml` does."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import yaml

from endpointctl.core.spec.diagnostics import Diagnostic, SpecError
from endpointctl.core.spec.source import MAX_SPEC_DEPTH, FieldPath, Located, dotted

# A segment is a bare key, a quoted key (for keys with dots, e.g. "nvidia.com/gpu") or a list index.
_TOKEN = re.compile(
    r'\s*(?:"(?P<dq>[^"]*)"|\'(?P<sq>[^\']*)\'|(?P<bare>[^.\[\]"\'=]+)|\[(?P<index>-?\d+)\])\s*'
)


def parse_field_path(text: str) -> FieldPath:
    """`a.b[0].c`, `a.b.0.c` and `resources.limits."nvidia.com/gpu"` → field path; ValueError if malformed."""
    parts: list[str | int] = []
    pos = 0
    expect_segment = True
    while pos < len(text):
        if not expect_segment:
            if text[pos] == ".":
                pos += 1
                expect_segment = True
                continue
            if text[pos] != "[":
                raise ValueError(f"unexpected {text[pos]!r} at position {pos + 1}")
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ValueError(f"unexpected {text[pos]!r} at position {pos + 1}")
        if match.group("index") is not None:
            parts.append(int(match.group("index")))
        else:
            key = match.group("dq") if match.group("dq") is not None else match.group("sq")
            key = key if key is not None else match.group("bare").strip()
            if not key:
                raise ValueError("empty field name")
            parts.append(int(key) if key.isdigit() and parts else key)
        pos = match.end()
        expect_segment = False
    if not parts or expect_segment:
        raise ValueError("missing field name")
    if isinstance(parts[0], int):
        raise ValueError("a path starts with a field name")
    return tuple(parts)


def typed_value(text: str) -> Any:
    """YAML typing for the value, so `instance_count=3` is an int and `tags.x=yes` … stays what YAML says."""
    if text == "":
        return ""
    try:
        _check_bounded(text)
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _check_bounded(text: str) -> None:
    """A value is typed with YAML, so it is held to a spec file's bounds: no aliases (`[&a [x, x], *a, *a]`
    nested a few times expands to billions of values once validated) and no deeper than a spec may be."""
    depth = 0
    for event in yaml.parse(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        if isinstance(event, yaml.AliasEvent):
            raise ValueError("YAML aliases (*name) are not accepted in a --set value")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_SPEC_DEPTH:
                raise ValueError(f"nested deeper than {MAX_SPEC_DEPTH} levels")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def apply_sets(located: Located, sets: Iterable[str]) -> None:
    """Apply every assignment in order; all malformed ones are reported together and nothing is applied."""
    problems: list[Diagnostic] = []
    plan: list[tuple[str, FieldPath, Any]] = []
    for assignment in sets:
        name, sep, raw = assignment.partition("=")
        where = f"--set {assignment}"
        if not sep:
            problems.append(Diagnostic(where, 0, 0, "", "expected path.to.field=value"))
            continue
        try:
            path = parse_field_path(name)
        except ValueError as exc:
            problems.append(Diagnostic(where, 0, 0, "", f"bad field path {name.strip()!r}: {exc}"))
            continue
        try:
            value = typed_value(raw.strip())
        except ValueError as exc:
            problems.append(Diagnostic(where, 0, 0, "", str(exc)))
            continue
        plan.append((assignment, path, value))
    if problems:
        raise SpecError(problems)
    for assignment, path, value in plan:
        problem = _assign(located.data, path, value)
        if problem is not None:
            problems.append(Diagnostic(f"--set {assignment}", 0, 0, dotted(path), problem))
            continue
        located.overrides[path] = assignment
    if problems:
        raise SpecError(problems)


def _assign(data: Any, path: FieldPath, value: Any) -> str | None:
    node = data
    for depth, part in enumerate(path[:-1]):
        following = path[depth + 1]
        if isinstance(node, dict):
            if not isinstance(part, str):
                return f"{dotted(path[:depth]) or 'the top level'} is a mapping, not a list"
            if part not in node or node[part] is None:
                node[part] = [] if isinstance(following, int) else {}
            node = node[part]
        elif isinstance(node, list):
            if not isinstance(part, int):
                return f"{dotted(path[:depth])} is a list; use an index"
            if not -len(node) <= part < len(node):
                return f"index {part} is out of range (the list has {len(node)} items)"
            node = node[part]
        else:
            return f"{dotted(path[: depth + 1])} is a value, not a mapping or list"
    last = path[-1]
    if isinstance(node, dict):
        if not isinstance(last, str):
            return f"{dotted(path[:-1]) or 'the top level'} is a mapping, not a list"
        node[last] = value
        return None
    if isinstance(node, list):
        if not isinstance(last, int):
            return f"{dotted(path[:-1])} is a list; use an index"
        if last == len(node):
            node.append(value)
            return None
        if not -len(node) <= last < len(node):
            return f"index {last} is out of range (the list has {len(node)} items)"
        node[last] = value
        return None
    return f"{dotted(path[:-1])} is a value, not a mapping or list"
