"""References to registered assets: `azureml:NAME:VERSION`, `azureml:NAME@latest`, registry URIs."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, model_serializer, model_validator

_ASSET_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}"
_SHORT = re.compile(
    rf"^azureml:(?P<name>{_ASSET_NAME})(?::(?P<version>[^:@/\s]+)|@(?P<label>[A-Za-z0-9_.-]+))$"
)
_REGISTRY = re.compile(
    rf"^azureml://registries/(?P<registry>[^/\s]+)/(?P<kind>models|environments|components)/(?P<name>{_ASSET_NAME})"
    r"/(?:versions/(?P<version>[^/\s]+)|labels/(?P<label>[^/\s]+))$"
)


def is_reference(value: object) -> bool:
    return isinstance(value, str) and value.startswith("azureml:")


class AssetRef(BaseModel):
    """A parsed reference; serialises back to the exact string form it came from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    version: str | None = None
    label: str | None = None
    registry: str | None = None
    registry_kind: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        return parse_reference(value)

    @model_serializer
    def _to_string(self) -> str:
        return str(self)

    def __str__(self) -> str:
        if self.registry is not None:
            tail = f"versions/{self.version}" if self.version is not None else f"labels/{self.label}"
            return f"azureml://registries/{self.registry}/{self.registry_kind}/{self.name}/{tail}"
        if self.version is not None:
            return f"azureml:{self.name}:{self.version}"
        return f"azureml:{self.name}@{self.label}"


def parse_reference(text: str) -> dict[str, str | None]:
    """The fields of an AssetRef; ValueError with the accepted forms when `text` is none of them."""
    match = _SHORT.match(text)
    if match:
        return {"name": match["name"], "version": match["version"], "label": match["label"]}
    match = _REGISTRY.match(text)
    if match:
        return {
            "name": match["name"],
            "version": match["version"],
            "label": match["label"],
            "registry": match["registry"],
            "registry_kind": match["kind"],
        }
    raise ValueError(
        f"{text!r} is not an asset reference; expected azureml:NAME:VERSION, azureml:NAME@latest "
        "or azureml://registries/REGISTRY/KIND/NAME/versions/VERSION"
    )
