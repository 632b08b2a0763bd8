"""What every environment gets besides the user's packages: the scoring host and its runtime libraries.

The host is `endpointctl/serving/__init__.py`, `limits.py` (the wire limits it shares with the gateway), the
`scoring` package and `storage.py` (the Kubernetes storage-initializer, run from the same image), copied into the
environment's site-packages under a stub `endpointctl/__init__.py`, so `python -m endpointctl.serving.scoring`
works without the control plane. Its marker digests the host's requirements and source, so editing the host
changes every environment key that includes it.

The gateway is a host too (`GATEWAY_HOST`: the `gateway` package and httptools), for the Kubernetes gateway's
image, built by the same builder. So is the Kubernetes rollout controller (`CONTROLLER_HOST`), the one program
of the control plane that runs in a cluster: its image carries the controller's import closure (see
`closure`), which is core's rollout machine, the Kubernetes client and what they import, and no more.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import endpointctl
import endpointctl.serving
from endpointctl.backends.common.environments.closure import closure, package_root
from endpointctl.backends.common.environments.conda import normalise

# What the scoring host itself imports; kept in step with the data-plane pins in pyproject.toml.
HOST_REQUIREMENTS: tuple[str, ...] = (
    "uvicorn>=0.34,<1",
    "httptools>=0.6.4,<1",
    "uvloop>=0.21,<1; sys_platform != 'win32'",
    # AMLRequest/AMLResponse for @rawhttp scripts; imported only when a script uses them.
    "werkzeug>=3.1,<4",
)
# Servers the scoring host replaces: installing them would only drag in a second, conflicting stack.
REPLACED_BY_HOST: frozenset[str] = frozenset({normalise("azureml-inference-server-http")})
REPLACED_REASON = "endpointctl's scoring host serves the deployment in its place"
GATEWAY_REQUIREMENTS: tuple[str, ...] = ("httptools>=0.6.4,<1",)


@dataclass(frozen=True)
class ServingHost:
    """A program of endpointctl.serving an environment carries: its modules (beside `__init__.py` and
    `limits.py`) and what they import besides the standard library."""

    name: str
    modules: tuple[str, ...]  # packages (folders) or single modules (`name.py`) under endpointctl/serving
    requirements: tuple[str, ...]
    # What a build imports to prove the host runs (`import a, b`).
    smoke_imports: str
    # A control-plane module the image runs (`python -m` it): its import closure is carried too.
    program: str | None = None

    @property
    def command(self) -> list[str]:
        return ["python", "-m", self.program or f"endpointctl.serving.{self.name}"]


SCORING_HOST = ServingHost(
    "scoring",
    ("scoring", "storage.py"),
    HOST_REQUIREMENTS,
    "endpointctl.serving.scoring.app, endpointctl.serving.storage, uvicorn, werkzeug.wrappers",
)
GATEWAY_HOST = ServingHost(
    "gateway", ("gateway",), GATEWAY_REQUIREMENTS, "endpointctl.serving.gateway.gateway, httptools"
)


# What the controller's closure imports besides the standard library (tests check the two agree).
CONTROLLER_REQUIREMENTS: tuple[str, ...] = (
    "pydantic>=2.11,<3",
    "pyyaml>=6.0.2,<7",
    "httpx>=0.28,<0.29",
    "kubernetes>=31,<38",
    "docker>=7.1,<8",
    "httptools>=0.6.4,<1",
)
CONTROLLER_PROGRAM = "endpointctl.backends.kubernetes.controller"
CONTROLLER_HOST = ServingHost(
    "controller",
    (),
    CONTROLLER_REQUIREMENTS,
    "endpointctl.backends.kubernetes.controller.__main__",
    program=CONTROLLER_PROGRAM,
)


def host_dir() -> Path:
    return Path(endpointctl.serving.__file__).parent


def host_files(root: Path | None = None, host: ServingHost = SCORING_HOST) -> list[Path]:
    """`endpointctl/serving/__init__.py`, `limits.py` and the host's modules: all its process imports."""
    root = host_dir() if root is None else root
    files = [root / "__init__.py", root / "limits.py"]
    for module in host.modules:
        if module.endswith(".py"):
            files.append(root / module)
            continue
        files += (
            p
            for p in (root / module).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
        )
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def program_files(host: ServingHost) -> list[str]:
    """The program's import closure (paths relative to the `endpointctl` package), less what the stub
    `__init__.py` and the serving files already are."""
    if host.program is None:
        return []
    return [rel for rel in closure(f"{host.program}.__main__") if rel != "__init__.py"]


def host_marker(root: Path | None = None, host: ServingHost = SCORING_HOST) -> str:
    """Digest of the host's requirements and source, ignoring bytecode caches."""
    root = host_dir() if root is None else root
    h = hashlib.sha256("\n".join(host.requirements).encode())
    h.update(endpointctl.__version__.encode())
    for path in host_files(root, host):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes())
    for rel in program_files(host):
        h.update(b"program/" + rel.encode() + b"\0")
        h.update((package_root() / rel).read_bytes())
    return h.hexdigest()


def stub_package_init() -> str:
    """The `endpointctl/__init__.py` an environment gets: only the version, none of the control plane's imports."""
    return (
        '"""The scoring host only; the control plane is not installed here."""\n\n'
        f"__version__ = {endpointctl.__version__!r}\n"
    )


def copy_host(package: Path, root: Path | None = None, host: ServingHost = SCORING_HOST) -> None:
    """Write the host as an `endpointctl` package at `package` (which must not exist yet)."""
    root = host_dir() if root is None else root
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(stub_package_init(), encoding="utf-8")
    for source in host_files(root, host):
        target = package / "serving" / source.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
    for rel in program_files(host):
        target = package / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((package_root() / rel).read_bytes())
