"""Reading a YAML spec while remembering where every key and item sits in the file."""

from __future__ import annotations

import errno
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from endpointctl.core.spec.diagnostics import Diagnostic, SpecError

FieldPath = tuple[str | int, ...]

# A spec is a few KiB; these bounds turn a wrong file (`-f /dev/zero`, a model file) or a YAML alias bomb
# (aliases nested so they expand exponentially) into a clear error in milliseconds instead of a frozen machine.
MAX_SPEC_BYTES = 1024 * 1024
MAX_SPEC_NODES = 100_000
# A spec is 4-5 levels deep; constructing values recurses once per level.
MAX_SPEC_DEPTH = 64
# libyaml's parser when PyYAML was built with it (the wheels are): the pure-Python scanner takes seconds for
# a megabyte. Both give the same nodes and marks.
_LOADER: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
DETAILED_ERRORS_BELOW = 64 * 1024


@dataclass
class Located:
    """Plain YAML data plus the position of each field path (key position for mapping entries)."""

    source: str
    data: Any
    positions: dict[FieldPath, tuple[int, int]] = field(default_factory=dict)
    # Paths that `--set` wrote, with the assignment that did it: errors there point at the flag.
    overrides: dict[FieldPath, str] = field(default_factory=dict)
    # Values constructed so far (aliases count each time they are expanded): bounded by MAX_SPEC_NODES.
    nodes: int = 0

    def where(self, path: FieldPath) -> tuple[str, int, int]:
        """The most precise location known for `path`: itself, an override, or its nearest ancestor."""
        probe = path
        while True:
            for set_path, assignment in self.overrides.items():
                if probe[: len(set_path)] == set_path:
                    return f"--set {assignment}", 0, 0
            if probe in self.positions:
                line, column = self.positions[probe]
                return self.source, line, column
            if not probe:
                return self.source, 1, 1
            probe = probe[:-1]

    def diagnostic(self, path: FieldPath, message: str) -> Diagnostic:
        source, line, column = self.where(path)
        return Diagnostic(source, line, column, dotted(path), message)


def dotted(path: FieldPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def read_text(path: Path) -> str:
    """The file's text, or a SpecError that says why it cannot be read."""
    source = str(path)

    def fail(message: str) -> SpecError:
        return SpecError([Diagnostic(source, 0, 0, "", message)])

    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_SPEC_BYTES + 1)
    except FileNotFoundError:
        raise fail("no such file") from None
    except IsADirectoryError:
        raise fail("is a directory; expected a YAML file") from None
    except PermissionError:
        raise fail("permission denied") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise fail("symlink loop") from None
        raise fail(exc.strerror or str(exc)) from None
    if len(raw) > MAX_SPEC_BYTES:
        raise fail(
            f"larger than {MAX_SPEC_BYTES // 1024} KiB; a spec file is a few KiB (is it the right file?)"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise fail(f"not UTF-8 text (byte {exc.start})") from None


def _compose(text: str) -> list[yaml.Node]:
    try:
        return list(yaml.compose_all(text, Loader=_LOADER))
    except yaml.YAMLError as exc:
        if _LOADER is yaml.SafeLoader or len(text) > DETAILED_ERRORS_BELOW:
            raise
        terse = exc
    # libyaml's messages are terser ("found character that cannot start any token", without the tab that it
    # was): for a file of ordinary size, the pure-Python parser says what went wrong, where.
    try:
        return list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except RecursionError:  # nested past libyaml's depth limit: the pure-Python composer recurses per level
        raise terse from None


def parse_yaml(text: str, source: str) -> Located:
    """One YAML document holding a mapping, with positions; duplicate keys are errors."""
    try:
        nodes = _compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or "malformed YAML"
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        raise SpecError([Diagnostic(source, line, column, "", f"malformed YAML: {problem}")]) from None
    except yaml.YAMLError as exc:
        raise SpecError([Diagnostic(source, 0, 0, "", f"malformed YAML: {exc}")]) from None
    if len(nodes) > 1:
        second = nodes[1].start_mark
        raise SpecError(
            [
                Diagnostic(
                    source,
                    second.line + 1,
                    second.column + 1,
                    "",
                    "expected one YAML document, found several",
                )
            ]
        )
    if not nodes or (isinstance(nodes[0], yaml.ScalarNode) and nodes[0].tag == "tag:yaml.org,2002:null"):
        raise SpecError([Diagnostic(source, 0, 0, "", "the file is empty; expected a mapping of fields")])
    root = nodes[0]
    if not isinstance(root, yaml.MappingNode):
        mark = root.start_mark
        raise SpecError(
            [Diagnostic(source, mark.line + 1, mark.column + 1, "", "expected a mapping of fields")]
        )
    located = Located(source, None)
    problems: list[Diagnostic] = []
    try:
        _check_expanded_size(root)
        located.data = _construct(root, (), located, problems)
    except _TooManyNodes as exc:
        mark = exc.node.start_mark
        message = (
            f"nested deeper than {MAX_SPEC_DEPTH} levels; refused"
            if isinstance(exc, _TooDeep)
            else f"more than {MAX_SPEC_NODES} values once aliases are expanded (an alias bomb?); refused"
        )
        raise SpecError([Diagnostic(source, mark.line + 1, mark.column + 1, "", message)]) from None
    if problems:
        raise SpecError(problems)
    return located


class _TooManyNodes(Exception):
    def __init__(self, node: yaml.Node) -> None:
        self.node = node


class _TooDeep(_TooManyNodes):
    pass


def _check_expanded_size(root: yaml.Node) -> None:
    """Refuse a document whose values, aliases expanded, outnumber MAX_SPEC_NODES or nest deeper than
    MAX_SPEC_DEPTH, before expanding any: an alias is the same node object wherever it is used, so each distinct
    node's expanded size is computed once (linear in the file), and the first node found too big is reported."""
    sizes: dict[int, int] = {}
    depths: dict[int, int] = {}
    visiting: set[int] = set()  # nodes whose children are being sized: meeting one again is a cycle
    # Post-order without recursion: a deeply nested file must not hit the interpreter's recursion limit here.
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if not children_done:
            if id(node) in visiting:  # `&a [*a]`: a node inside itself expands without end
                raise _TooManyNodes(node)
            visiting.add(id(node))
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
            continue
        visiting.discard(id(node))
        size = 1 + sum(sizes.get(id(child), 0) for child in children)
        depth = 1 + max((depths.get(id(child), 0) for child in children), default=0)
        sizes[id(node)], depths[id(node)] = size, depth
        if size > MAX_SPEC_NODES:
            raise _TooManyNodes(node)
        if depth > MAX_SPEC_DEPTH:
            raise _TooDeep(node)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):  # values only, as _construct counts them (keys must be scalars)
        return [value for _, value in node.value]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _construct(node: yaml.Node, path: FieldPath, located: Located, problems: list[Diagnostic]) -> Any:
    located.nodes += 1
    if located.nodes > MAX_SPEC_NODES:
        raise _TooManyNodes(node)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            if not isinstance(key, str | int | float | bool) or key is None:
                problems.append(_at(located, key_node, _dotted_or_root(path), "keys must be plain scalars"))
                continue
            key = str(key) if not isinstance(key, str) else key
            child = (*path, key)
            mark = key_node.start_mark
            if key in out:
                problems.append(_at(located, key_node, dotted(child), "duplicate key"))
                continue
            located.positions[child] = (mark.line + 1, mark.column + 1)
            out[key] = _construct(value_node, child, located, problems)
        return out
    if isinstance(node, yaml.SequenceNode):
        items: list[Any] = []
        for index, item in enumerate(node.value):
            child = (*path, index)
            mark = item.start_mark
            located.positions[child] = (mark.line + 1, mark.column + 1)
            items.append(_construct(item, child, located, problems))
        return items
    value = _scalar(node)
    if isinstance(value, _BadTag):
        problems.append(_at(located, node, _dotted_or_root(path), f"unsupported YAML tag {value.tag}"))
        return None
    return value


def _at(located: Located, node: yaml.Node, field: str, message: str) -> Diagnostic:
    mark = node.start_mark
    return Diagnostic(located.source, mark.line + 1, mark.column + 1, field, message)


def _dotted_or_root(path: FieldPath) -> str:
    return dotted(path) or "(top level)"


_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_SCALAR_LOADER = yaml.SafeLoader("")


def _scalar(node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        return _Unhashable()
    if node.tag == _TIMESTAMP:
        # A version such as 2024-01-01 is a string in every spec; never a date object.
        return node.value
    try:
        # The safe constructor gives YAML 1.1 typing (ints, floats, bools, nulls) for one scalar.
        return _SCALAR_LOADER.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError:
        return _BadTag(node.tag)


class _Unhashable:
    """Marks a complex mapping key, which no spec allows."""


class _BadTag:
    """A scalar with a tag the safe loader refuses (e.g. !!python/object); reported as an error."""

    def __init__(self, tag: str) -> None:
        self.tag = tag


def as_plain(data: Any) -> Any:
    """A deep copy with plain containers, for `--set` to edit without touching the located original."""
    if isinstance(data, Mapping):
        return {k: as_plain(v) for k, v in data.items()}
    if isinstance(data, list):
        return [as_plain(v) for v in data]
    return data
