"""Which of endpointctl's own files a module needs: its import closure, read from the source (nothing is
imported). An image that runs one control-plane program (the Kubernetes rollout controller) carries exactly
these files, so it cannot miss a module nor drag in the TUI.

Imports under `if TYPE_CHECKING:` are left out; every other `endpointctl.…` import counts, wherever it is
written (a function-level import runs too).
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import endpointctl

PACKAGE = "endpointctl"


def package_root() -> Path:
    return Path(endpointctl.__file__).parent


@functools.cache
def closure(module: str) -> tuple[str, ...]:
    """Paths (relative to the `endpointctl` package, POSIX) of `module`, its parent packages' `__init__.py`
    and everything they import of endpointctl, recursively; sorted."""
    root = package_root()
    seen: dict[str, None] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        path = _file_of(root, name)
        if path is None:
            continue  # `from endpointctl.x import y` where y is a name, not a module
        rel = path.relative_to(root).as_posix()
        if rel in seen:
            continue
        seen[rel] = None
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]
        package = parts if path.name == "__init__.py" else parts[:-1]
        todo += _imports(ast.parse(path.read_text(encoding="utf-8")), package)
    return tuple(sorted(seen))


def third_party(module: str) -> frozenset[str]:
    """The top-level names of what the closure imports besides endpointctl (standard library included)."""
    root = package_root()
    out: set[str] = set()
    for rel in closure(module):
        tree = ast.parse((root / rel).read_text(encoding="utf-8"))
        for node in _runtime_nodes(tree):
            if isinstance(node, ast.Import):
                out |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                out.add(node.module.split(".")[0])
    return frozenset(out - {PACKAGE})


def _file_of(root: Path, module: str) -> Path | None:
    if module != PACKAGE and not module.startswith(PACKAGE + "."):
        return None
    relative = Path(*module.split(".")[1:])
    for candidate in (root / relative / "__init__.py", (root / relative).with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _imports(tree: ast.Module, package: list[str]) -> list[str]:
    out: list[str] = []
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name.split(".")[0] == PACKAGE]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base.split(".")[0] == PACKAGE:
                out.append(base)
                out += [f"{base}.{a.name}" for a in node.names]
    return out


def _runtime_nodes(tree: ast.Module) -> list[ast.AST]:
    """Every node but those under `if TYPE_CHECKING:`."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            skipped |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return [n for n in ast.walk(tree) if id(n) not in skipped]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )
