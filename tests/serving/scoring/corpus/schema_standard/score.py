"""inference-schema with several standard parameters, one of them optional."""

from inference_schema.parameter_types.standard_py_parameter_type import StandardPythonParameterType
from inference_schema.schema_decorators import input_schema, output_schema


def init():
    pass


@input_schema("name", StandardPythonParameterType("world"))
@input_schema("times", StandardPythonParameterType(1))
@input_schema("punctuation", StandardPythonParameterType("!"))
@output_schema(StandardPythonParameterType({"greeting": "hello world!"}))
def run(name, times, punctuation="!"):
    return {"greeting": " ".join(["hello"] * times) + f" {name}{punctuation}"}
