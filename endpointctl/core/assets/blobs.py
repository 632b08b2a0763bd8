"""A content-addressed copy of registered files, so a registered version can never change under us."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from endpointctl.core.digest import PREFIX, tree_digest


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, digest: str) -> Path:
        return self.root / "sha256" / digest.removeprefix(PREFIX)

    def put_tree(self, source: Path) -> tuple[str, Path]:
        """Copy a file or folder in under its digest; returns (digest, stored path). Idempotent.

        The copy lands in a temporary folder first and is renamed into place, so a crash never leaves
        a half-copied blob under a valid digest. The stored path keeps the source's own name inside
        the blob folder: deployments mount a model folder "by its own name".
        """
        digest = tree_digest(source)
        target = self.path_for(digest)
        stored = target / source.name
        if stored.exists():
            return digest, stored
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=target.parent))
        try:
            if source.is_dir():
                shutil.copytree(source, staging / source.name, symlinks=False)
            else:
                shutil.copy2(source, staging / source.name)
            copied = tree_digest(staging / source.name)
            if copied != digest:
                raise OSError(f"{source} changed while it was being registered ({digest} then {copied})")
            try:
                staging.rename(target)
            except OSError:
                if not stored.exists():
                    raise
                # Another registration of identical content won the race; theirs is as good as ours.
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return digest, stored
