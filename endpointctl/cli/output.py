"""Machine and human output for every verb: `-o json|yaml|table|tsv` and `--query` (JMESPath), as az does."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Sequence
from typing import IO, Any

import jmespath
import jmespath.exceptions
import yaml
from rich.console import Console
from rich.table import Table

from endpointctl.core.errors import InvalidInput

FORMATS = ("json", "yaml", "table", "tsv", "none")


class DocumentStream(list[Any]):
    """Documents that `-o yaml` prints as one multi-document stream — what `kubectl apply -f -` reads."""


def apply_query(value: Any, query: str | None) -> Any:
    if not query:
        return value
    try:
        return jmespath.search(query, value)
    except jmespath.exceptions.JMESPathError as exc:
        raise InvalidInput(f"--query {query!r}: {exc}") from None


def render(
    value: Any, fmt: str, *, columns: Sequence[str] | None = None, stream: IO[str] | None = None
) -> None:
    out = stream or sys.stdout
    if fmt == "none":
        return
    if fmt == "json":
        out.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")
    elif fmt == "yaml" and isinstance(value, DocumentStream):
        out.write(
            yaml.safe_dump_all(
                [_plain(v) for v in value], sort_keys=False, allow_unicode=True, default_flow_style=False
            )
        )
    elif fmt == "yaml":
        out.write(
            yaml.safe_dump(_plain(value), sort_keys=False, allow_unicode=True, default_flow_style=False)
        )
    elif fmt == "tsv":
        for line in _tsv_lines(value):
            out.write(line + "\n")
    elif fmt == "table":
        _table(value, columns, out)
    else:
        raise InvalidInput(f"--output {fmt!r}: choose one of {', '.join(FORMATS)}")


def _plain(value: Any) -> Any:
    # Round-trip through JSON so YAML never gets Python-specific tags (tuples, Paths, enums).
    return json.loads(json.dumps(value, default=str))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), default=str)
    return str(value)


def _tsv_lines(value: Any) -> list[str]:
    # az's tsv: a scalar is printed bare; an object prints its values on one line; a list one line per item.
    if isinstance(value, list):
        return [_tsv_row(v) for v in value]
    return [_tsv_row(value)]


def _tsv_row(value: Any) -> str:
    if isinstance(value, dict):
        return "\t".join(_cell(v) for v in value.values() if not isinstance(v, (dict, list)))
    if isinstance(value, list):
        return "\t".join(_cell(v) for v in value)
    return _cell(value)


# Not a terminal (a pipe, a file): nothing to fit, and a value cut with "…" would be a wrong value for a script.
UNBOUNDED_WIDTH = 1_000_000


def _table(value: Any, columns: Sequence[str] | None, out: IO[str]) -> None:
    terminal = _is_terminal(out)
    buffer = io.StringIO()
    console = Console(
        file=out if terminal else buffer, soft_wrap=True, width=None if terminal else UNBOUNDED_WIDTH
    )
    rows = value if isinstance(value, list) else [value]
    if rows and all(isinstance(r, dict) for r in rows):
        keys = list(columns) if columns else _scalar_keys(rows)
        table = Table(*[k.replace("_", " ").title() for k in keys], box=None, pad_edge=False)
        for row in rows:
            table.add_row(*(_cell(row.get(k)) for k in keys))
    else:
        table = Table("Result", box=None, pad_edge=False)
        for row in rows:
            table.add_row(_cell(row))
    console.print(table)
    if not terminal:  # column padding at the end of a line is noise in a pipe
        out.write("".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines()))


def _scalar_keys(rows: list[dict[str, Any]]) -> list[str]:
    keys: list[str] = []
    for row in rows:
        for k, v in row.items():
            if k not in keys and not isinstance(v, (dict, list)):
                keys.append(k)
    return keys


def _is_terminal(out: IO[str]) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False
