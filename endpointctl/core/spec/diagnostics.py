"""Validation findings that point at a file, a line, a column and a field."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from endpointctl.core.errors import InvalidInput


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem in one spec. `line`/`column` are 1-based; 0 means "the file as a whole"."""

    source: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = self.source if self.line == 0 else f"{self.source}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class SpecError(InvalidInput):
    """Every problem found in a spec at once; nothing was changed because of it."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics: Sequence[Diagnostic] = tuple(sorted(set(diagnostics)))
        super().__init__("\n".join(str(d) for d in self.diagnostics))
