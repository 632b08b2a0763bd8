"""@rawhttp walking werkzeug's whole public Request/Response API and reporting every answer as JSON.

The names come from werkzeug's own classes (and the attributes their instances set), so an attribute the
host's request or response lacks, refuses to set, or answers differently shows up as a difference from
azmlinfsrv. SKIPPED lists the few that cannot be compared between two servers, with the reason.
"""

import copy
import datetime
import inspect
import re
import types

import werkzeug.wrappers
from azureml.contrib.services.aml_request import rawhttp
from azureml.contrib.services.aml_response import AMLResponse
from werkzeug.routing import Rule

SKIPPED = {
    "request.environ": "the WSGI server's own keys (gunicorn.socket, SERVER_SOFTWARE, RAW_URI's origin...); "
    "every value a script reads from it is compared through the properties built on it",
    "request.input_stream": "the server's body object (gunicorn Body vs BytesIO); its bytes are compared "
    "through stream, data and get_data",
    "request.application": "a decorator that turns a function into a WSGI app; it never touches the request",
    "response.call_on_close": "registers a callback; its effect (close) is compared through close",
    "request.json_module": "Flask's app JSON provider in azmlinfsrv, a json module elsewhere: both offer "
    "loads/dumps, and what they decode is compared through json and get_json",
    "response.json_module": "as request.json_module",
}
ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
WHEN = datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
CANDIDATES = ("text", 7, WHEN, None, ("a", "b"), True, b"raw")


def describe(value, depth=0):
    if (isinstance(value, float) and value != value) or value in (float("inf"), float("-inf")):
        return {"float": repr(value)}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray)):
        return {"bytes": bytes(value).decode("latin-1")}
    if isinstance(value, datetime.datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, BaseException):
        return {
            "raised": type(value).__name__,
            "code": getattr(value, "code", None),
            "description": str(getattr(value, "description", value)),
        }
    if isinstance(value, Rule):
        # A Rule's repr lists its methods in set order, which changes from process to process.
        return {"rule": value.rule, "endpoint": value.endpoint, "methods": sorted(value.methods or ())}
    if depth < 3 and isinstance(value, (list, tuple)):
        return [describe(item, depth + 1) for item in value]
    if depth < 3 and isinstance(value, dict):
        return {str(key): describe(item, depth + 1) for key, item in value.items()}
    if depth < 3 and hasattr(value, "read") and callable(value.read):
        return {"stream": describe(value.read(), depth + 1)}
    if depth < 3 and (isinstance(value, types.GeneratorType) or type(value).__name__ == "ClosingIterator"):
        return {"iterator": [describe(item, depth + 1) for item in value]}
    return {"type": type(value).__name__, "repr": ADDRESS.sub("", repr(value))}


def attempt(action):
    try:
        return describe(action())
    except Exception as ex:  # the exception is the answer being compared
        return describe(ex)


def public_names(cls, instance):
    names = {name for name in dir(cls) if not name.startswith("_")}
    names |= {name for name in vars(instance) if not name.startswith("_")}
    return sorted(names)


def is_method(cls, name):
    attribute = inspect.getattr_static(cls, name, None)
    return isinstance(attribute, (types.FunctionType, classmethod, staticmethod))


def settable(cls, name):
    attribute = inspect.getattr_static(cls, name, None)
    return attribute is None or hasattr(type(attribute), "__set__") or not callable(attribute)


def request_calls(request):
    return {
        "close": [()],
        "from_values": [(), ("/x?y=1",)],
        "get_data": [(), (KW(as_text=True),), (KW(parse_form_data=True),), (KW(cache=False),)],
        "get_json": [(), (KW(silent=True),), (KW(force=True, silent=True),), (KW(force=True),)],
        "make_form_data_parser": [()],
        "on_json_loading_failed": [(None,), (ValueError("bad"),)],
    }


class KW(dict):
    """Keyword arguments at the end of a call's argument tuple."""


def call(target, name, args):
    if args and isinstance(args[-1], KW):
        return attempt(lambda: getattr(target, name)(*args[:-1], **args[-1]))
    return attempt(lambda: getattr(target, name)(*args))


def args_label(args):
    """The arguments of a call, named by kind where their repr is the server's own (environ, request)."""
    parts = []
    for arg in args:
        if isinstance(arg, KW):
            parts.extend(f"{key}={value!r}" for key, value in arg.items())
        elif isinstance(arg, dict) and "REQUEST_METHOD" in arg:
            parts.append("environ")
        elif isinstance(arg, werkzeug.wrappers.Request):
            parts.append("request")
        elif callable(arg) and not isinstance(arg, type):
            parts.append(getattr(arg, "__name__", type(arg).__name__))
        else:
            parts.append(repr(arg))
    return f"({', '.join(parts)})"


def flask_request_names():
    """Flask's additions to werkzeug's request (routing results), when Flask is installed here."""
    try:
        import flask
    except ImportError:
        return set()
    return {name for name in dir(flask.Request) if not name.startswith("_")} - set(
        dir(werkzeug.wrappers.Request)
    )


def walk_request(request):
    cls = werkzeug.wrappers.Request
    names = public_names(cls, cls.from_values()) + sorted(flask_request_names())
    names = [name for name in names if f"request.{name}" not in SKIPPED]
    calls = request_calls(request)
    report = {}
    # Reads first (they may consume the body, in the same order on both servers), then sets, then calls.
    for name in names:
        if not is_method(cls, name):
            report[name] = {"read": attempt(lambda name=name: getattr(request, name))}
    for name in names:
        if not is_method(cls, name) and settable(cls, name):
            clone = copy.copy(request)
            try:
                current = getattr(request, name)
            except Exception as ex:  # unreadable (a 415 from json): nothing to set back
                report[name]["set"] = describe(ex)
                continue

            def put(clone=clone, name=name, current=current):
                setattr(clone, name, current)
                return getattr(clone, name)

            report[name]["set"] = attempt(put)
    for name in names:
        if is_method(cls, name) and name != "close":
            report[name] = {args_label(args): call(request, name, args) for args in calls.get(name, [()])}
    report["close"] = {"()": attempt(request.close)}
    report["__repr__"] = attempt(lambda: repr(request))
    # azmlinfsrv passes Flask's LocalProxy, which answers __class__ with the request's own class.
    report["__class__"] = request.__class__.__name__
    return report


RESPONSES = {
    "text-201-headers": lambda: AMLResponse("text ☃", 201, {"X-A": "1, 2", "Content-Type": "text/x-mine"}),
    "json_str-404": lambda: AMLResponse({"a": [1, 2]}, 404, json_str=True),
    "none-200": lambda: AMLResponse(None, 200),
    "bytes-503": lambda: AMLResponse(b"\x00\xff", 503, run_function_failed=True),
    "streamed": lambda: AMLResponse(iter([b"a", "b"]), "299 CUSTOM"),
}


def wsgi_app(environ, start_response):
    start_response("202 ACCEPTED", [("X-App", "yes")])
    return [b"from app"]


def response_calls(request):
    environ = request.environ
    return {
        "add_etag": [(), (True, False)],
        "calculate_content_length": [()],
        "close": [()],
        "delete_cookie": [("k",), ("k", "/p", "example.test", True, True, "Lax")],
        "force_type": [(werkzeug.wrappers.Response("plain"), environ)],
        "freeze": [()],
        "from_app": [(wsgi_app, environ), (wsgi_app, environ, True)],
        "get_app_iter": [(environ,)],
        "get_data": [(), (KW(as_text=True),)],
        "get_etag": [()],
        "get_json": [(), (KW(force=True, silent=True),), (KW(force=True),)],
        "get_wsgi_headers": [(environ,)],
        "get_wsgi_response": [(environ,)],
        "iter_encoded": [()],
        "make_conditional": [(request,), (environ, True)],
        "make_sequence": [()],
        "set_cookie": [
            ("k", "v"),
            ("k", "v", KW(max_age=60, path="/p", secure=True, httponly=True, samesite="Lax")),
            ("k", "v", KW(expires=WHEN, domain="example.test", partitioned=True)),
        ],
        "set_data": [("new",), (b"raw",), (7,)],
        "set_etag": [("abc",), ("abc", True)],
    }


def snapshot(response):
    return {
        "status": attempt(lambda: response.status),
        "headers": attempt(lambda: list(response.headers.items())),
        "data": attempt(lambda: response.get_data()),
    }


def walk_response(label, make, request):
    cls = werkzeug.wrappers.Response
    names = public_names(cls, werkzeug.wrappers.Response())
    names = [name for name in names if f"response.{name}" not in SKIPPED]
    calls = response_calls(request)
    response = make()
    report = {"__repr__": attempt(lambda: repr(response)), "__class__": type(response).__name__}
    for name in names:
        if is_method(cls, name):
            results = {}
            for args in calls.get(name, [()]):
                fresh = make()
                results[args_label(args)] = {"result": call(fresh, name, args), "after": snapshot(fresh)}
            report[name] = results
            continue
        entry = {"read": attempt(lambda name=name: getattr(make(), name))}
        if settable(cls, name):
            for candidate in CANDIDATES:
                fresh = make()

                def put(fresh=fresh, name=name, candidate=candidate):
                    setattr(fresh, name, candidate)
                    return getattr(fresh, name)

                entry[f"set {candidate!r}"] = {"result": attempt(put), "after": snapshot(fresh)}
        report[name] = entry
    return {f"{label}.{key}": value for key, value in report.items()}


def init():
    pass


@rawhttp
def run(request):
    if request.args.get("walk") == "response":
        report = {"skipped": SKIPPED}
        for label, make in RESPONSES.items():
            report.update(walk_response(label, make, request))
        return report
    return {"skipped": SKIPPED, **walk_request(request)}
