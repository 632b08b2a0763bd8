"""The /swagger.json documents: the app root's own files, else generated from inference-schema."""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger("azmlinfsrv.swagger")

# Canonical version -> the spellings /swagger.json?version= accepts for it.
ALIASES: dict[str, tuple[str, ...]] = {"2": ("2", "2.0"), "3": ("3", "3.0"), "3.1": ("3.1",)}
# The files a user may ship in the app root, tried in order.
USER_FILES: dict[str, tuple[str, ...]] = {
    "2": ("swagger.json", "swagger2.json"),
    "3": ("swagger3.json",),
    "3.1": ("swagger3.1.json",),
}
GENERIC_SCHEMA: dict[str, Any] = {"type": "object", "example": {}}
_ERROR_SCHEMA = {"type": "object", "properties": {"message": {"type": "string"}}}
_DEFAULT_ERROR = "The service failed to execute due to an error."
_HEALTH_TEXT = "If service is up and running, this response will be returned with the content 'Healthy'"
_HEALTH_DESCRIPTION = "Simple health check endpoint to ensure the service is up at any given point."
_SCORE_OK = "The service processed the input correctly and provided a result prediction, if applicable."
_PAYLOAD = "The input payload for executing the real-time machine learning service."


class SwaggerError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    version: str
    path_prefix: str

    @property
    def prefix(self) -> str:
        return f"/{self.path_prefix.strip('/')}" if self.path_prefix else ""

    def info(self) -> dict[str, str]:
        return {
            "title": self.name,
            "description": f"API specification for the Azure Machine Learning service {self.name}",
            "version": self.version,
        }


def _swagger2(service: Service, inputs: Any, outputs: Any) -> dict[str, Any]:
    error = {"description": _DEFAULT_ERROR, "schema": {"$ref": "#/definitions/ErrorResponse"}}
    health_ok = {
        "description": _HEALTH_TEXT,
        "schema": {"type": "string"},
        "examples": {"application/json": "Healthy"},
    }
    version_param = {"name": "version", "in": "query", "required": False, "type": "integer", "enum": [2, 3]}
    p = service.prefix
    return {
        "swagger": "2.0",
        "info": service.info(),
        "schemes": ["https"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "securityDefinitions": {
            "Bearer": {
                "type": "apiKey",
                "name": "Authorization",
                "in": "header",
                "description": "For example: Bearer abc123",
            }
        },
        "paths": {
            f"{p}/": {
                "get": {
                    "operationId": "ServiceHealthCheck",
                    "description": _HEALTH_DESCRIPTION,
                    "responses": {"200": health_ok, "default": error},
                }
            },
            f"{p}/score": {
                "post": {
                    "operationId": "RunMLService",
                    "description": "Run web service's model and get the prediction output",
                    "security": [{"Bearer": []}],
                    "parameters": [
                        {
                            "name": "serviceInputPayload",
                            "in": "body",
                            "description": _PAYLOAD,
                            "schema": {"$ref": "#/definitions/ServiceInput"},
                        }
                    ],
                    "responses": {
                        "200": {"description": _SCORE_OK, "schema": {"$ref": "#/definitions/ServiceOutput"}},
                        "default": error,
                    },
                }
            },
            f"{p}/swagger.json": {
                "get": {
                    "operationId": "GetSwaggerSpec",
                    "description": "Get the Swagger specification.",
                    "parameters": [version_param],
                    "responses": {
                        "200": {"description": "The Swagger specification.", "schema": {"type": "string"}},
                        "default": error,
                    },
                }
            },
        },
        "definitions": {"ServiceInput": inputs, "ServiceOutput": outputs, "ErrorResponse": _ERROR_SCHEMA},
    }


def _json_content(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def _swagger3(service: Service, inputs: Any, outputs: Any, openapi: str) -> dict[str, Any]:
    error = {"description": _DEFAULT_ERROR, "content": _json_content("ErrorResponse")}
    p = service.prefix
    return {
        "openapi": openapi,
        "info": service.info(),
        "security": [{"Bearer": []}],
        "paths": {
            f"{p}/": {
                "get": {
                    "operationId": "ServiceHealthCheck",
                    "description": _HEALTH_DESCRIPTION,
                    "responses": {
                        "200": {
                            "description": _HEALTH_TEXT,
                            "content": {"text/plain": {"schema": {"type": "string", "example": "Healthy"}}},
                        },
                        "default": error,
                    },
                }
            },
            f"{p}/score": {
                "post": {
                    "operationId": "RunMLService",
                    "description": "Run web service's model and get the prediction output",
                    "security": [{"Bearer": []}],
                    "requestBody": {"description": _PAYLOAD, "content": _json_content("ServiceInput")},
                    "responses": {
                        "200": {"description": _SCORE_OK, "content": _json_content("ServiceOutput")},
                        "default": error,
                    },
                }
            },
            f"{p}/swagger.json": {
                "get": {
                    "operationId": "GetSwaggerSpec",
                    "description": "Get the Swagger specification.",
                    "parameters": [
                        {
                            "name": "version",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "enum": [2, 3]},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The Swagger specification.",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        "default": error,
                    },
                }
            },
        },
        "components": {
            "schemas": {"ServiceInput": inputs, "ServiceOutput": outputs, "ErrorResponse": _ERROR_SCHEMA},
            "securitySchemes": {
                "Bearer": {
                    "type": "apiKey",
                    "name": "Authorization",
                    "in": "header",
                    "description": "For example: Bearer abc123",
                }
            },
        },
    }


_BUILDERS: dict[str, Callable[[Service, Any, Any], dict[str, Any]]] = {
    "2": _swagger2,
    "3": lambda service, i, o: _swagger3(service, i, o, "3.0.3"),
    "3.1": lambda service, i, o: _swagger3(service, i, o, "3.1.0"),
}


def _read_user_file(app_root: Path, version: str) -> Any | None:
    for name in USER_FILES[version]:
        path = app_root / name
        try:
            with path.open(encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            continue
        logger.info(f"Loaded user's swagger file for version [{version}] from {path}")
        # An empty document counts as absent, as in azmlinfsrv.
        if data:
            return data
    return None


def _schemas(run: Callable[..., Any], version: str) -> tuple[Any, Any] | None:
    """(input, output) schemas for ``version``, or None when the script's schema cannot express it."""
    try:
        schema_util = importlib.import_module("inference_schema.schema_util")
    except ImportError:
        return dict(GENERIC_SCHEMA), dict(GENERIC_SCHEMA)
    supported = schema_util.get_supported_versions(run)
    if not any(alias in supported for alias in ALIASES[version]):
        return None
    if schema_util.is_schema_decorated(run):
        return schema_util.get_input_schema(run), schema_util.get_output_schema(run)
    return dict(GENERIC_SCHEMA), dict(GENERIC_SCHEMA)


class SwaggerDocuments:
    """Every version's document, serialised once at start-up."""

    def __init__(self, app_root: Path, run: Callable[..., Any], service: Service) -> None:
        self._bodies: dict[str, bytes] = {}
        self.supported: list[str] = []
        for version, aliases in ALIASES.items():
            document = _read_user_file(app_root, version)
            if document is None:
                schemas = _schemas(run, version)
                if schemas is not None:
                    document = _BUILDERS[version](service, *schemas)
            if document is None:
                continue
            body = json.dumps(document).encode("utf-8")
            for alias in aliases:
                self._bodies[alias] = body
            self.supported.append(version)
        self.supported.sort()
        logger.info(f"Swaggers are prepared for the following versions: [{', '.join(self.supported)}].")

    def get(self, version: str | None) -> bytes:
        version = "2" if version is None else version
        listed = ", ".join(self.supported)
        if not any(version in aliases for aliases in ALIASES.values()):
            raise SwaggerError(f"Swagger version [{version}] is not valid. Supported versions: [{listed}].")
        body = self._bodies.get(version)
        if body is None:
            raise SwaggerError(
                f"Swagger version [{version}] is not supported for the scoring script. "
                f"Supported swagger versions: [{listed}]."
            )
        return body
