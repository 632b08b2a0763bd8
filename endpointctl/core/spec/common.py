"""Building blocks shared by the spec models: strict configuration, names, counts, string maps."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

# A name a spec accepts must be one the gateway accepts: both check it with the gateway's rule.
from endpointctl.serving.gateway.config import is_name

NAME_RULE = (
    "must be 3–32 characters: a letter first, then letters, digits or '-', and end with a letter or digit"
)


class SpecModel(BaseModel):
    """Every spec model: unknown keys are errors (as in `az ml`), `$schema` kept as `schema_`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=False, validate_default=False)


def valid_name(value: str) -> bool:
    """An endpoint or deployment name as Azure (and the gateway) accept it: no '/', no '..', no spaces."""
    return is_name(value)


def _check_name(value: str) -> str:
    if not is_name(value):
        raise ValueError(NAME_RULE)
    return value


def _no_bool(value: Any) -> Any:
    # YAML 1.1 reads `yes`/`on` as booleans; an int field must not quietly take them as 1.
    if isinstance(value, bool):
        raise ValueError("must be an integer")
    return value


def _scalar_to_str(value: Any) -> Any:
    # `tags: {build: 42}` and `--set tags.build=42` both mean the string "42".
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


Name = Annotated[str, AfterValidator(_check_name)]
Int = Annotated[int, BeforeValidator(_no_bool)]
Str = Annotated[str, BeforeValidator(_scalar_to_str)]
StrMap = dict[str, Str]


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _env_names(value: dict[str, str]) -> dict[str, str]:
    bad = [name for name in value if not _ENV_NAME.match(name)]
    if bad:
        raise ValueError(
            f"{bad[0]!r} is not an environment variable name (letters, digits and '_', not starting with a digit)"
        )
    return value


# Environment variables: names a shell, a container runtime and a Kubernetes pod all accept.
EnvMap = Annotated[StrMap, AfterValidator(_env_names)]
Version = Annotated[str, BeforeValidator(_scalar_to_str)]
Lower = BeforeValidator(_lower)
Schema = Annotated[str | None, Field(default=None, alias="$schema")]
