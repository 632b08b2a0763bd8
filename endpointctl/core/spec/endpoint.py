"""`managedOnlineEndpoint` and `kubernetesOnlineEndpoint` specs (one model; `compute` makes it kubernetes)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from endpointctl.core.spec.common import Int, Lower, Name, Schema, SpecModel, Str, StrMap
from endpointctl.serving.gateway.config import MAX_MIRROR_PERCENT

Percent = Annotated[Int, Field(ge=0, le=100)]


class UserAssignedIdentity(SpecModel):
    resource_id: str


class Identity(SpecModel):
    type: Annotated[Literal["system_assigned", "user_assigned", "none"], Lower]
    user_assigned_identities: list[UserAssignedIdentity] | None = None


class EndpointSpec(SpecModel):
    schema_: Schema = None
    name: Name
    description: Str | None = None
    tags: StrMap = Field(default_factory=dict)
    auth_mode: Annotated[Literal["key", "aml_token", "aad_token"], Lower] = "key"
    traffic: dict[str, Percent] = Field(default_factory=dict)
    mirror_traffic: dict[str, Percent] = Field(default_factory=dict)
    identity: Identity | None = None
    public_network_access: Annotated[Literal["enabled", "disabled"], Lower] | None = None
    compute: str | None = None

    @property
    def kind(self) -> Literal["managed", "kubernetes"]:
        return "kubernetes" if self.compute is not None else "managed"

    @field_validator("mirror_traffic")
    @classmethod
    def _one_mirror_at_most_half(cls, value: dict[str, int]) -> dict[str, int]:
        if len(value) > 1:
            raise ValueError("may name exactly one deployment")
        for percent in value.values():
            if percent > MAX_MIRROR_PERCENT:
                raise ValueError(f"must be ≤ {MAX_MIRROR_PERCENT} percent")
        return value
