"""@rawhttp: method, args, JSON and headers from the request; custom status and repeated headers back."""

import json

from azureml.contrib.services.aml_request import rawhttp
from azureml.contrib.services.aml_response import AMLResponse


def init():
    pass


@rawhttp
def run(request):
    if request.method == "GET":
        args = {key: request.args.getlist(key) for key in request.args}
        return {"method": "GET", "args": args, "path": request.path}
    if request.method == "POST":
        body = request.get_data(as_text=True)
        status = int(request.headers.get("X-Status", "200"))
        extra = {"X-Seen-Length": str(len(body)), "X-List": "a, b,c"}
        return AMLResponse(json.dumps({"echo": body, "json": request.is_json}), status, extra)
    return AMLResponse(f"method {request.method}", 202)
