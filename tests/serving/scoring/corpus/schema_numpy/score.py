"""inference-schema with numpy input and output types."""

import numpy
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.schema_decorators import input_schema, output_schema

SAMPLE_INPUT = numpy.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
SAMPLE_OUTPUT = numpy.array([6.0, 15.0])


def init():
    pass


@input_schema("data", NumpyParameterType(SAMPLE_INPUT))
@output_schema(NumpyParameterType(SAMPLE_OUTPUT))
def run(data):
    return data.sum(axis=1).tolist()
