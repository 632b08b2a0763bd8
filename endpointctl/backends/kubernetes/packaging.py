"""Model, code, requirements and the scoring host as one deterministic tar.gz, or remote sources to fetch.

The archive travels in a ConfigMap's binaryData, which the API server limits to about 1 MiB per object, so
anything over `PACKAGE_LIMIT` must come from a `pvc://CLAIM/PATH` or an `https://` source instead; other
schemes, and oversize local folders, are errors raised here, before any object is created.

Members are sorted, with mtime 0, uid/gid 0 and fixed modes, and the gzip header carries no time or name,
so the same inputs always give the same bytes: golden files stay stable and an unchanged deployment does
not roll out again.

How the conda file reaches the pod: the `pip:` section and the PyPI spellings of the conda packages
(backends.common.environments.conda) plus the scoring host's own requirements go to `requirements.txt`; the
storage-initializer runs `python -m pip install --target` with the image's Python into the shared emptyDir
(honouring `kube_pip_index_url`), and the inference server puts that folder on PYTHONPATH. The conda file's
Python version cannot change the image's interpreter; the initializer logs a note when they differ.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from endpointctl.backends.common.environments.conda import (
    PythonRequirements,
    parse_conda_file,
    requirement_name,
)
from endpointctl.backends.common.environments.scoring_host import (
    HOST_REQUIREMENTS,
    REPLACED_BY_HOST,
    REPLACED_REASON,
    host_dir,
    stub_package_init,
)
from endpointctl.core.assets import AssetRegistry
from endpointctl.core.digest import PREFIX, tree_digest, tree_files
from endpointctl.core.errors import InvalidInput
from endpointctl.core.spec import AssetRef, DeploymentSpec, InlineEnvironment, InlineModel

PACKAGE_LIMIT = 900 * 1024
APP_ROOT = "/var/azureml-app"
MODELS_DIR = "azureml-models"
TOOLS = ".endpointctl"
HOST_PATH = f"{APP_ROOT}/{TOOLS}/host"
SITE_PATH = f"{APP_ROOT}/{TOOLS}/site"
REQUIREMENTS_PATH = f"{APP_ROOT}/{TOOLS}/requirements.txt"
PACKAGE_KEY = "package.tar.gz"
GATEWAY_REQUIREMENTS: tuple[str, ...] = ("httptools>=0.6.4,<1",)
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".zip")
_REMOTE = re.compile(r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*)://")


@dataclass(frozen=True)
class RemoteSource:
    """A model or code folder the storage-initializer fetches: a PVC path or an https URL."""

    scheme: str  # "pvc" | "https"
    uri: str
    claim: str = ""
    sub_path: str = ""

    @property
    def basename(self) -> str:
        tail = self.sub_path if self.scheme == "pvc" else urlsplit(self.uri).path
        name = PurePosixPath(tail).name
        for suffix in ARCHIVE_SUFFIXES:
            if self.scheme == "https" and name.endswith(suffix):
                return name[: -len(suffix)]
        return name or "model"

    @property
    def is_archive(self) -> bool:
        """An https archive is unpacked into the target folder (the storage initializer does the same test)."""
        return self.scheme == "https" and urlsplit(self.uri).path.endswith(ARCHIVE_SUFFIXES)


@dataclass(frozen=True)
class Package:
    archive: bytes
    digest: str  # hex sha256 of `archive`
    env: dict[str, str]
    image: str
    model_remote: RemoteSource | None
    model_target: str | None
    code_remote: RemoteSource | None
    code_target: str | None
    python: str | None
    notes: tuple[str, ...]


def parse_remote(value: str) -> RemoteSource | None:
    """None for a local path; a RemoteSource for pvc:// and https://; InvalidInput for any other scheme."""
    match = _REMOTE.match(value)
    if match is None:
        return None
    scheme = match["scheme"].lower()
    if scheme == "https":
        parts = urlsplit(value)
        if parts.query or parts.username or parts.password:
            # The URL lands in the Deployment's pod spec and annotations, readable by anyone who can read
            # Deployments, and in --dry-run output: a signed URL's signature must not.
            raise InvalidInput(
                f"{parts.scheme}://{parts.hostname}{parts.path}: an https:// source may carry no query string or "
                "credentials (a signed URL would be stored in the Deployment in plain text); use a URL the "
                "cluster can fetch without them, or a pvc://CLAIM/PATH"
            )
        return RemoteSource("https", value)
    if scheme == "pvc":
        claim, _, sub = value[len("pvc://") :].partition("/")
        sub = sub.strip("/")
        if not claim or not sub or ".." in PurePosixPath(sub).parts:
            raise InvalidInput(f"{value}: expected pvc://CLAIM/PATH (a path inside the claim)")
        return RemoteSource("pvc", value, claim, sub)
    raise InvalidInput(
        f"{value}: the kubernetes backend can fetch pvc://CLAIM/PATH or https:// sources; {scheme}:// is not supported"
    )


class _Archive:
    def __init__(self) -> None:
        self.members: dict[str, bytes] = {}

    def add(self, name: str, data: bytes) -> None:
        self.members[name] = data

    def add_tree(self, prefix: str, root: Path, *, keep_name: bool = False) -> None:
        """`root`'s files under `prefix`: a folder's contents, or with `keep_name` the folder itself (a file
        always keeps its name)."""
        base = root.parent if root.is_file() or keep_name else root
        for path in tree_files(root):
            self.add(f"{prefix}/{path.relative_to(base).as_posix()}", path.read_bytes())

    def build(self) -> bytes:
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name in sorted(self.members):
                data = self.members[name]
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = len(data), 0, 0o644
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                tar.addfile(info, io.BytesIO(data))
        out = io.BytesIO()
        # filename "" and mtime 0: the gzip header would otherwise carry the time and a temporary name.
        with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
            gz.write(raw.getvalue())
        return out.getvalue()


def _add_host(archive: _Archive, prefix: str, packages: tuple[str, ...]) -> None:
    root = host_dir()
    archive.add(f"{prefix}/endpointctl/__init__.py", stub_package_init().encode())
    archive.add(f"{prefix}/endpointctl/serving/__init__.py", (root / "__init__.py").read_bytes())
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            if "__pycache__" not in path.parts:
                archive.add(
                    f"{prefix}/endpointctl/serving/{path.relative_to(root).as_posix()}", path.read_bytes()
                )


def gateway_host_archive() -> tuple[bytes, str]:
    """The gateway's code (stdlib plus httptools) for any python image, and its digest."""
    archive = _Archive()
    _add_host(archive, "host", ("gateway",))
    archive.add("requirements.txt", ("\n".join(GATEWAY_REQUIREMENTS) + "\n").encode())
    data = archive.build()
    return data, hashlib.sha256(data).hexdigest()


def _environment(spec: DeploymentSpec, registry: AssetRegistry) -> tuple[str, PythonRequirements | None]:
    environment = spec.environment
    if environment is None:
        raise InvalidInput(
            f"deployment {spec.name}: the kubernetes backend needs `environment` with an `image` to run"
        )
    if isinstance(environment, AssetRef):
        asset = registry.resolve("environment", environment)
        registered = asset.environment
        image, conda, build = registered.image, registered.conda_file, registered.build
        where = asset.reference
    else:
        assert isinstance(environment, InlineEnvironment)
        image, conda, build = environment.image, environment.conda_file, environment.build
        where = f"deployment {spec.name}: environment"
    if build is not None or not image:
        raise InvalidInput(
            f"{where}: the kubernetes backend runs an existing `image`; environments built from a context "
            "need an image registry (build and push it, then name it in `image`)"
        )
    return str(image), parse_conda_file(Path(conda)) if conda else None


def _requirements_text(requirements: PythonRequirements | None) -> tuple[str, tuple[str, ...]]:
    notes: list[str] = []
    lines = list(HOST_REQUIREMENTS)
    if requirements is not None:
        requirements = requirements.without(REPLACED_BY_HOST, REPLACED_REASON)
        notes += requirements.notes
        lines = (
            list(requirements.pip_options)
            + [
                r
                for r in requirements.packages
                if requirement_name(r) not in {requirement_name(h) for h in lines}
            ]
            + lines
        )
    return "\n".join(lines) + "\n", tuple(notes)


def _model_target(name: str, version: str) -> str:
    for value, what in ((name, "model name"), (version, "model version")):
        if not value or value in {".", ".."} or "/" in value or "\\" in value:
            raise InvalidInput(f"{what} {value!r} cannot be used as a folder name")
    return f"{APP_ROOT}/{MODELS_DIR}/{name}/{version}"


def build_package(spec: DeploymentSpec, registry: AssetRegistry) -> Package:
    """Everything the storage-initializer stages; InvalidInput when it cannot travel to the cluster."""
    image, requirements = _environment(spec, registry)
    archive = _Archive()
    env: dict[str, str] = {}
    model_remote = code_remote = None
    model_target = code_target = None

    model = spec.model
    if isinstance(model, AssetRef):
        asset = registry.resolve("model", model)
        if asset.blob_path is None:
            raise InvalidInput(f"model {asset.reference} has no stored files")
        version_dir = _model_target(asset.name, asset.version)
        # A model keeps its folder's name under AZUREML_MODEL_DIR, as on Azure ML and the other backends:
        # the samples' score.py reads $AZUREML_MODEL_DIR/model/….
        archive.add_tree(f"app/{MODELS_DIR}/{asset.name}/{asset.version}", asset.blob_path, keep_name=True)
        env["AZUREML_MODEL_DIR"] = version_dir
    elif isinstance(model, InlineModel):
        model_remote = parse_remote(model.path)
        if model_remote is not None:
            name = model.name or hashlib.sha256(model.path.encode()).hexdigest()[:32]
            version_dir = _model_target(name, model.version or "1")
            model_target = f"{version_dir}/{model_remote.basename}"
        else:
            source = Path(model.path)
            name = model.name or tree_digest(source).removeprefix(PREFIX)[:32]
            version_dir = _model_target(name, model.version or "1")
            archive.add_tree(f"app/{MODELS_DIR}/{name}/{model.version or '1'}", source, keep_name=True)
        env["AZUREML_MODEL_DIR"] = version_dir

    config = spec.code_configuration
    if config is not None:
        script = PurePosixPath(config.scoring_script)
        if script.is_absolute() or ".." in script.parts:
            raise InvalidInput(
                f"scoring_script {config.scoring_script!r} must be a path inside the code folder"
            )
        code_remote = parse_remote(config.code)
        if code_remote is not None and code_remote.scheme == "https" and not code_remote.is_archive:
            raise InvalidInput(
                f"code_configuration.code {config.code}: an https:// code source must be a .tar.gz, .tgz or "
                ".zip archive of the code folder's contents"
            )
        folder = code_remote.basename if code_remote is not None else Path(config.code).name
        if folder == MODELS_DIR:
            raise InvalidInput(
                f"code folder {config.code} cannot be named {MODELS_DIR!r}: models are staged there"
            )
        if code_remote is not None:
            code_target = f"{APP_ROOT}/{folder}"
        else:
            archive.add_tree(f"app/{folder}", Path(config.code))
        entry = PurePosixPath(APP_ROOT) / folder / script
        env["AML_APP_ROOT"] = str(entry.parent)
        env["AZUREML_ENTRY_SCRIPT"] = entry.name

    requirements_text, notes = _requirements_text(requirements)
    archive.add("requirements.txt", requirements_text.encode())
    _add_host(archive, "host", ("scoring",))
    data = archive.build()
    if len(data) > PACKAGE_LIMIT:
        raise InvalidInput(
            f"deployment {spec.endpoint_name}/{spec.name}: model and code compress to {len(data) // 1024} KiB; "
            f"a ConfigMap carries at most {PACKAGE_LIMIT // 1024} KiB. Put the model on a volume "
            "(model.path: pvc://CLAIM/PATH) or behind an https:// URL the cluster can reach."
        )
    return Package(
        data,
        hashlib.sha256(data).hexdigest(),
        env,
        image,
        model_remote,
        model_target,
        code_remote,
        code_target,
        requirements.python if requirements is not None else None,
        notes,
    )
