"""What a storage initializer stages, whatever the backend: a resolved model and a code folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModelSource:
    """A resolved model: a registered blob (name, version, digest) or an inline path (name optional)."""

    path: Path
    name: str | None = None
    version: str | None = None
    digest: str | None = None


@dataclass(frozen=True)
class CodeSource:
    path: Path
    scoring_script: str
