"""@rawhttp returning 5xx and 4xx responses, None bodies and JSON bodies."""

from azureml.contrib.services.aml_request import rawhttp
from azureml.contrib.services.aml_response import AMLResponse


def init():
    pass


@rawhttp
def run(request):
    kind = request.args.get("kind", "503")
    if kind == "503":
        return AMLResponse("overloaded", 503)
    if kind == "500-flagged":
        return AMLResponse("broken", 500, run_function_failed=False)
    if kind == "404":
        return AMLResponse({"missing": True}, 404, json_str=True)
    if kind == "none":
        return AMLResponse(None, 201)
    if kind == "raise":
        raise KeyError("kind")
    return {"kind": kind}
