"""inference-schema plus the optional request_headers parameter."""

from inference_schema.parameter_types.standard_py_parameter_type import StandardPythonParameterType
from inference_schema.schema_decorators import input_schema


def init():
    pass


@input_schema("value", StandardPythonParameterType(3))
def run(value, request_headers):
    return {
        "double": value * 2,
        "trace": request_headers.get("Traceid"),
        "custom": request_headers.get("X-Custom"),
    }
