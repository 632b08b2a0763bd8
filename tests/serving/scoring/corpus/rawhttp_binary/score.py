"""@rawhttp returning binary bodies with their own content type."""

import hashlib

from azureml.contrib.services.aml_request import rawhttp
from azureml.contrib.services.aml_response import AMLResponse

PNG_HEADER = bytes([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])


def init():
    pass


@rawhttp
def run(request):
    data = request.get_data()
    digest = hashlib.sha256(data).digest()
    return AMLResponse(PNG_HEADER + digest + bytes(range(256)), 200, {"Content-Type": "image/png"})
