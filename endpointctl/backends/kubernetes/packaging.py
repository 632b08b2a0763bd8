"""What a deployment's pod is made of: its environment image's inputs, the local model and code its modelcar
carries, the remote sources its storage-initializer fetches, and the environment variables that find them.

Nothing here builds or sends anything (images.py builds, manifests.py writes the objects): it reads the spec and
the registry and fails early, before any object is created, on what cannot run in a cluster — an environment
without an image, an environment built from a context, unknown source schemes, paths leaving their folder.

The environment image is the Docker backend's (same builder, same digest): the conda file's packages in a venv
with the scoring host and the storage-initializer, so no container installs anything at start. Local model and
code folders go into the modelcar (any size); `pvc://CLAIM/PATH` and `https://` sources are fetched by the
storage-initializer. Registered (`azureml:`) models resolve to their stored files and travel in the modelcar too.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from endpointctl.backends.common.environments.conda import PythonRequirements, parse_conda_file
from endpointctl.core.assets import AssetRegistry
from endpointctl.core.digest import PREFIX, tree_digest
from endpointctl.core.errors import InvalidInput
from endpointctl.core.spec import AssetRef, DeploymentSpec, InlineEnvironment, InlineModel

APP_ROOT = "/var/azureml-app"
MODELS_DIR = "azureml-models"
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
class LocalSource:
    """A local file or folder the modelcar carries under `/modelcar/<key>`, copied to `target` in the pod."""

    key: str  # "model" | "code"
    path: Path
    target: str


@dataclass(frozen=True)
class PodSources:
    base_image: str  # the environment's `image`, the environment image's FROM
    requirements: PythonRequirements  # the conda file's, or none
    env: dict[str, str]
    local: tuple[LocalSource, ...] = ()
    model_remote: RemoteSource | None = None
    model_target: str | None = None
    code_remote: RemoteSource | None = None
    code_target: str | None = None
    notes: tuple[str, ...] = field(default=())


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


def _environment(spec: DeploymentSpec, registry: AssetRegistry) -> tuple[str, PythonRequirements]:
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
            f"{where}: the kubernetes backend builds its environment image FROM an existing `image`; an "
            "environment built from a context is not supported (build and push it, then name it in `image`)"
        )
    if conda:
        return str(image), parse_conda_file(Path(conda))
    return str(image), PythonRequirements(where, None, ())


def _model_target(name: str, version: str) -> str:
    for value, what in ((name, "model name"), (version, "model version")):
        if not value or value in {".", ".."} or "/" in value or "\\" in value:
            raise InvalidInput(f"{what} {value!r} cannot be used as a folder name")
    return f"{APP_ROOT}/{MODELS_DIR}/{name}/{version}"


def pod_sources(spec: DeploymentSpec, registry: AssetRegistry) -> PodSources:
    """Everything the deployment's pod needs; InvalidInput when it cannot run in a cluster."""
    image, requirements = _environment(spec, registry)
    env: dict[str, str] = {}
    local: list[LocalSource] = []
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
        local.append(LocalSource("model", asset.blob_path, _kept_name(version_dir, asset.blob_path)))
        env["AZUREML_MODEL_DIR"] = version_dir
    elif isinstance(model, InlineModel):
        model_remote = parse_remote(model.path)
        if model_remote is not None:
            name = model.name or hashlib.sha256(model.path.encode()).hexdigest()[:32]
            version_dir = _model_target(name, model.version or "1")
            model_target = f"{version_dir}/{model_remote.basename}"
        else:
            source = Path(model.path)
            if not source.exists():
                raise InvalidInput(f"model.path {model.path}: no such file or folder")
            name = model.name or tree_digest(source).removeprefix(PREFIX)[:32]
            version_dir = _model_target(name, model.version or "1")
            local.append(LocalSource("model", source, _kept_name(version_dir, source)))
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
            if not Path(config.code).is_dir():
                raise InvalidInput(f"code_configuration.code {config.code}: not a folder")
            local.append(LocalSource("code", Path(config.code), f"{APP_ROOT}/{folder}"))
        entry = PurePosixPath(APP_ROOT) / folder / script
        env["AML_APP_ROOT"] = str(entry.parent)
        env["AZUREML_ENTRY_SCRIPT"] = entry.name

    return PodSources(
        image,
        requirements,
        env,
        tuple(local),
        model_remote,
        model_target,
        code_remote,
        code_target,
        requirements.notes,
    )


def _kept_name(version_dir: str, source: Path) -> str:
    """Where a model lands: a folder keeps its name under the version folder; a file goes in it."""
    return f"{version_dir}/{source.name}" if source.is_dir() else version_dir
