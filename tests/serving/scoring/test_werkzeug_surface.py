"""werkzeug's whole public Request/Response API, asked through a @rawhttp script of azmlinfsrv and of our host.

The script (corpus/rawhttp_surface) enumerates werkzeug's classes itself, reads every property, sets every
settable one, calls every method, and answers with a JSON report. Our host must give the same report in
both compat modes: with azmlinfsrv's own Flask classes aliased ("real") and on werkzeug alone ("shim").
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import werkzeug.wrappers

from tests.serving.scoring.cases import CORPUS, Case, Req
from tests.serving.scoring.differential import Pair, start_pair
from tests.serving.scoring.servers import Server, fetch

pytestmark = pytest.mark.slow

HOST = "scoring.test"
BOUNDARY = "XyZ"
MULTIPART = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="field"\r\n\r\nvalue ☃\r\n'
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="upload"; filename="a.txt"\r\n'
    f"Content-Type: text/plain\r\n\r\nfile body\r\n--{BOUNDARY}--\r\n"
).encode()
# Every header werkzeug gives a property of its own, so each is read from a real value.
RICH_HEADERS = {
    "Host": HOST,
    "Content-Type": "application/json; charset=utf-8",
    "Accept": "application/json;q=0.9, text/html",
    "Accept-Charset": "utf-8, iso-8859-1;q=0.5",
    "Accept-Encoding": "gzip, br;q=0.5",
    "Accept-Language": "en-GB, fr;q=0.7",
    "Authorization": "Basic dXNlcjpwYXNz",
    "Cache-Control": "no-cache, max-age=10",
    "Cookie": "a=1; b=two",
    "Date": "Wed, 21 Oct 2015 07:28:00 GMT",
    "If-Match": '"e1", W/"e2"',
    "If-None-Match": '"e3"',
    "If-Modified-Since": "Wed, 21 Oct 2015 07:28:00 GMT",
    "If-Unmodified-Since": "Thu, 22 Oct 2015 07:28:00 GMT",
    "If-Range": '"e4"',
    "Range": "bytes=0-9",
    "Referer": "http://example.test/from",
    "User-Agent": "surface-test/1.0",
    "Origin": "http://example.test",
    "Pragma": "no-cache",
    "Max-Forwards": "3",
    "Content-Encoding": "identity",
    "Content-MD5": "Q2hlY2sgSW50ZWdyaXR5IQ==",
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "X-A, X-B",
    "X-Forwarded-For": "10.0.0.1, 10.0.0.2",
    "X-Repeated": "one",
}
REQUESTS = (
    Req("json-rich-headers", "POST", "/score?a=1&a=2&b=%C3%A9", b'{"k": [1, 2]}', RICH_HEADERS),
    Req(
        "form",
        "POST",
        "/score?q=1",
        b"a=1&a=2&b=%E2%98%83",
        {"Host": HOST, "Content-Type": "application/x-www-form-urlencoded"},
    ),
    Req(
        "multipart",
        "POST",
        "/score",
        MULTIPART,
        {"Host": HOST, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    ),
    Req("bad-json", "POST", "/score", b"{nope", {"Host": HOST, "Content-Type": "application/json"}),
    Req("text", "POST", "/score?x=%2F", "plain ☃".encode(), {"Host": HOST, "Content-Type": "text/plain"}),
    Req("get-no-host-port", "GET", "/score?empty=&flag", None, {"Host": HOST}),
    Req(
        "binary-host-port",
        "POST",
        "/score",
        bytes(range(256)),
        {"Host": f"{HOST}:8080", "Content-Type": "application/octet-stream"},
    ),
    Req("options", "OPTIONS", "/score", None, {"Host": HOST}),
    Req("responses", "GET", "/score?walk=response", None, {"Host": HOST}),
)
CASE = Case("rawhttp_surface", CORPUS / "rawhttp_surface" / "score.py", REQUESTS)


@pytest.fixture(scope="module")
def servers(oracle_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    logs = tmp_path_factory.mktemp("surface")
    pair = start_pair(CASE, oracle_venv, logs, {"real": {}, "shim": {"ENDPOINTCTL_AML_COMPAT": "shim"}})
    try:
        assert pair.theirs.wait_ready(), pair.theirs.output()
        for variant, ours in pair.ours.items():
            assert ours.wait_ready(), f"{variant}:\n{ours.output()}"
        yield pair
    finally:
        pair.stop()


def _now_normalised(text: str) -> str:
    """Dates werkzeug stamps from the clock (Date headers, Retry-After from seconds) read "<now>"."""
    year = datetime.datetime.now(datetime.UTC).year
    text = re.sub(rf"\w{{3}}, \d\d \w{{3}} {year} \d\d:\d\d:\d\d GMT", "<now>", text)
    return re.sub(rf"{year}-\d\d-\d\dT[0-9:.]+\+00:00", "<now>", text)


def report(server: Server, req: Req) -> dict[str, Any]:
    reply = fetch(server.port, req.method, req.path, req.body, req.headers)
    assert reply.status == 200, (
        f"{req.label}: {reply.status} {reply.body[:2000]!r}\n{server.output()[-4000:]}"
    )
    text = _now_normalised(reply.body.decode("utf-8"))
    try:
        loaded: dict[str, Any] = json.loads(text)
    except json.JSONDecodeError as ex:
        raise AssertionError(
            f"{req.label}: not JSON ({ex}): {text[max(0, ex.pos - 300) : ex.pos + 300]}"
        ) from None
    # request.server is the listening socket's address: each server has its own port, and azmlinfsrv
    # binds 0.0.0.0 where the tests bind our host to loopback. The Host-derived URLs are compared.
    if "server" in loaded:
        loaded["server"] = "<listening address>"
    return loaded


def differences(theirs: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for name in sorted(set(theirs) | set(ours)):
        if name not in ours:
            problems.append(f"{name}: missing on ours")
        elif name not in theirs:
            problems.append(f"{name}: only on ours")
        elif theirs[name] != ours[name]:
            problems.append(
                f"{name}:\n    azmlinfsrv {json.dumps(theirs[name])[:600]}\n    ours       {json.dumps(ours[name])[:600]}"
            )
    return problems


def public(cls: type, instance: object) -> set[str]:
    return {n for n in dir(cls) if not n.startswith("_")} | {
        n for n in vars(instance) if not n.startswith("_")
    }


@pytest.mark.parametrize("req", REQUESTS, ids=[req.label for req in REQUESTS])
def test_werkzeug_api_answers_alike(servers: Pair, req: Req) -> None:
    theirs = report(servers.theirs, req)
    problems: list[str] = []
    for variant, ours in servers.ours.items():
        problems += [f"[{variant}] {line}" for line in differences(theirs, report(ours, req))]
    assert not problems, f"{req.label}:\n" + "\n".join(problems)


def test_the_walk_covers_werkzeugs_whole_public_api(servers: Pair) -> None:
    """Nothing is left out silently: every public name is reported, or skipped with a reason."""
    request_report = report(servers.theirs, REQUESTS[0])
    skipped: dict[str, str] = request_report.pop("skipped")
    assert all(reason.strip() for reason in skipped.values())
    expected_request = public(werkzeug.wrappers.Request, werkzeug.wrappers.Request.from_values())
    reported = {name for name in request_report if not name.startswith("__")}
    # Flask's own additions (url_rule, endpoint, ...) are walked too: the reference server has Flask.
    flask_only = {"url_rule", "view_args", "routing_exception", "endpoint", "blueprint", "blueprints"}
    assert reported == {n for n in expected_request | flask_only if f"request.{n}" not in skipped}
    response_report = report(servers.theirs, REQUESTS[-1])
    response_report.pop("skipped")
    expected_response = public(werkzeug.wrappers.Response, werkzeug.wrappers.Response())
    per_label: dict[str, set[str]] = {}
    for key in response_report:
        label, name = key.split(".", 1)
        if not name.startswith("__"):
            per_label.setdefault(label, set()).add(name)
    assert len(per_label) == 5
    for names in per_label.values():
        assert names == {n for n in expected_response if f"response.{n}" not in skipped}
