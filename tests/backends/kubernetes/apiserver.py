"""A small, strict Kubernetes API double served over HTTP to the official client.

It keeps objects per (kind, namespace, name), validates every object written with kubernetes-validate (strict),
honours labelSelector, resourceVersion (409 Conflict on a stale PUT, 409 AlreadyExists on POST), answers 404
with Status objects, streams watches and `pods/{name}/log?container=&follow=`, garbage-collects dependents by
ownerReferences, and runs a controller: Deployments get ReplicaSets (rolling, maxSurge honoured, old pods
removed only as new ones become Ready), ReplicaSets get Pods, and Pods become Ready — or crash-loop when a
container's `CRASH_VARIABLE` environment variable has a value in `crash_markers` (the backend builds the images
itself, so a spec cannot name a broken one: a test marks the deployment it wants to crash by its variables).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import kubernetes_validate

VERSION = "1.37"
KINDS: dict[tuple[str, str], tuple[str, str]] = {
    ("/api/v1", "configmaps"): ("v1", "ConfigMap"),
    ("/api/v1", "secrets"): ("v1", "Secret"),
    ("/api/v1", "services"): ("v1", "Service"),
    ("/api/v1", "pods"): ("v1", "Pod"),
    ("/api/v1", "events"): ("v1", "Event"),
    ("/apis/apps/v1", "deployments"): ("apps/v1", "Deployment"),
    ("/apis/apps/v1", "replicasets"): ("apps/v1", "ReplicaSet"),
    ("/apis/autoscaling/v2", "horizontalpodautoscalers"): ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("/apis/policy/v1", "poddisruptionbudgets"): ("policy/v1", "PodDisruptionBudget"),
    ("/apis/networking.k8s.io/v1", "networkpolicies"): ("networking.k8s.io/v1", "NetworkPolicy"),
    ("/api/v1", "serviceaccounts"): ("v1", "ServiceAccount"),
    ("/apis/rbac.authorization.k8s.io/v1", "roles"): ("rbac.authorization.k8s.io/v1", "Role"),
    ("/apis/rbac.authorization.k8s.io/v1", "rolebindings"): ("rbac.authorization.k8s.io/v1", "RoleBinding"),
}


CRASH_VARIABLE = "ENDPOINTCTL_TEST_CRASH"


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def matches(labels: dict[str, str], selector: str) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.split("==", 1) if "==" in term else term.split("=", 1)
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.body = status(code, reason, message)
        self.code = code


class Cluster:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.history: list[tuple[int, str, dict[str, Any]]] = []
        self.rv = 100
        self.logs: dict[tuple[str, str], list[str]] = {}
        self.crash_markers: set[str] = set()
        # Images (references, or their prefixes) no registry has: their pods wait in ImagePullBackOff, as the
        # kubelet leaves them.
        self.unpullable: set[str] = set()
        self.pull_failures: set[str] = set()  # the pods already reported so
        self.requests: list[tuple[str, str]] = []
        self.authorizations: list[str | None] = []  # each request's Authorization header
        self.conflict_next_put: set[str] = set()
        # Bearer tokens of ServiceAccounts: a request bearing one is authorized by RBAC (the namespace's Roles
        # bound to that account), as the API server authorizes a pod's requests. Other requests are admins.
        self.service_account_tokens: dict[str, tuple[str, str]] = {}
        self.forbidden: list[str] = []  # what RBAC refused, for tests to show
        # (namespace, service, port name) → where the service proxy forwards: what would be the Service's pods.
        self.proxies: dict[tuple[str, str, str], str] = {}
        self.proxied_headers: list[dict[str, str]] = []  # what the service proxy forwarded, per request
        self.progress_deadline_scale = 1.0
        # What the node list says, and where NodePorts are allocated from: a test that runs a Service's pods
        # on this machine points both here, so a client reaches them as it would through a node.
        self.node_address = "192.0.2.7"
        self.node_ports = iter(range(30000, 32768))
        self.ticks = 0
        self.stopped = False

    # --- storage ------------------------------------------------------------------------------------------
    def _bump(self, kind: str, obj: dict[str, Any], event: str) -> None:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.history.append((self.rv, event, copy.deepcopy(obj)))
        self.changed.notify_all()

    def create(self, kind: str, ns: str, obj: dict[str, Any], *, validate: bool = True) -> dict[str, Any]:
        with self.lock:
            name = obj.get("metadata", {}).get("name")
            if not name:
                raise ApiError(422, "Invalid", f"{kind}: metadata.name: Required value")
            if (kind, ns, name) in self.objects:
                raise ApiError(409, "AlreadyExists", f'{kind.lower()}s "{name}" already exists')
            if validate:
                self._validate(obj)
            if obj["metadata"].get("namespace", ns) != ns:
                raise ApiError(
                    400,
                    "BadRequest",
                    "the namespace of the object does not match the namespace on the request",
                )
            if obj["metadata"].get("resourceVersion"):
                raise ApiError(422, "Invalid", "metadata.resourceVersion: must not be set on create")
            obj = copy.deepcopy(obj)
            meta = obj["metadata"]
            meta.update(namespace=ns, uid=str(uuid.uuid4()), generation=1, creationTimestamp=_now())
            if kind == "Service":
                obj["spec"]["clusterIP"] = f"10.96.0.{len(self.objects) % 250 + 2}"
                obj["spec"]["clusterIPs"] = [obj["spec"]["clusterIP"]]
                if obj["spec"].get("type") in ("NodePort", "LoadBalancer"):
                    for port in obj["spec"]["ports"]:
                        port.setdefault("nodePort", next(self.node_ports))
            self.objects[(kind, ns, name)] = obj
            self._bump(kind, obj, "ADDED")
            return copy.deepcopy(obj)

    def replace(self, kind: str, ns: str, name: str, obj: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            current = self.get(kind, ns, name)
            if name in self.conflict_next_put:
                self.conflict_next_put.discard(name)
                self._bump(kind, self.objects[(kind, ns, name)], "MODIFIED")  # someone else wrote in between
            self._validate(obj)
            sent = obj.get("metadata", {}).get("resourceVersion")
            live = self.objects[(kind, ns, name)]["metadata"]["resourceVersion"]
            if sent and sent != live:
                raise ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {kind.lower()}s "{name}": the object has been modified; please apply your changes to the latest version and try again',
                )
            if current.get("immutable") and kind in ("ConfigMap", "Secret"):
                raise ApiError(
                    422, "Invalid", f'{kind} "{name}" is invalid: field is immutable when `immutable` is set'
                )
            if kind == "Service" and obj["spec"].get("clusterIP") != current["spec"].get("clusterIP"):
                raise ApiError(422, "Invalid", "spec.clusterIP: Invalid value: field is immutable")
            if kind == "Deployment" and obj["spec"]["selector"] != current["spec"]["selector"]:
                raise ApiError(422, "Invalid", "spec.selector: field is immutable")
            new = copy.deepcopy(obj)
            meta = new["metadata"]
            for key in ("uid", "creationTimestamp", "namespace", "generation", "ownerReferences"):
                if key in current["metadata"]:
                    meta.setdefault(key, current["metadata"][key])
            if "status" in current and "status" not in new:
                new["status"] = current["status"]
            if new.get("spec") != current.get("spec"):
                meta["generation"] = current["metadata"].get("generation", 1) + 1
            self.objects[(kind, ns, name)] = new
            self._bump(kind, new, "MODIFIED")
            return copy.deepcopy(new)

    def get(self, kind: str, ns: str, name: str) -> dict[str, Any]:
        with self.lock:
            obj = self.objects.get((kind, ns, name))
            if obj is None:
                raise ApiError(404, "NotFound", f'{kind.lower()}s "{name}" not found')
            return copy.deepcopy(obj)

    def select(self, kind: str, ns: str | None, selector: str = "") -> list[dict[str, Any]]:
        with self.lock:
            return [
                copy.deepcopy(o)
                for (k, n, _), o in sorted(self.objects.items())
                if k == kind
                and (ns is None or n == ns)
                and matches(o["metadata"].get("labels") or {}, selector)
            ]

    def delete(self, kind: str, ns: str, name: str) -> dict[str, Any]:
        with self.lock:
            obj = self.objects.pop((kind, ns, name), None)
            if obj is None:
                raise ApiError(404, "NotFound", f'{kind.lower()}s "{name}" not found')
            self._bump(kind, obj, "DELETED")
            uid = obj["metadata"]["uid"]
            for (k, n, other), dependent in list(self.objects.items()):
                if any(ref.get("uid") == uid for ref in dependent["metadata"].get("ownerReferences") or []):
                    self.delete(k, n, other)
            return status(200, "", "deleted") | {"status": "Success"}

    def allows(
        self, account: tuple[str, str], ns: str, group: str, resource: str, verb: str, name: str
    ) -> bool:
        with self.lock:
            bindings = [
                b
                for (k, n, _), b in self.objects.items()
                if k == "RoleBinding"
                and n == ns
                and any(
                    s.get("kind") == "ServiceAccount"
                    and s.get("name") == account[1]
                    and s.get("namespace", ns) == account[0]
                    for s in b.get("subjects") or []
                )
            ]
            for binding in bindings:
                ref = binding["roleRef"]
                if ref.get("kind") != "Role":
                    continue
                role = self.objects.get(("Role", ns, ref["name"]))
                for rule in (role or {}).get("rules") or []:
                    names = rule.get("resourceNames") or []
                    if (
                        _has(rule.get("apiGroups"), group)
                        and _has(rule.get("resources"), resource)
                        and _has(rule.get("verbs"), verb)
                        and (not names or (name and name in names))
                    ):
                        return True
            return False

    def _validate(self, obj: dict[str, Any]) -> None:
        try:
            kubernetes_validate.validate(obj, VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise ApiError(422, "Invalid", f"{obj.get('kind')} is invalid: {exc.message}") from None

    # --- the simulated controllers -------------------------------------------------------------------------
    def tick(self) -> None:
        with self.lock:
            self.ticks += 1
            for (kind, ns, _), obj in list(self.objects.items()):
                if kind == "Deployment":
                    self._reconcile_deployment(ns, obj)
            for (kind, ns, _), obj in list(self.objects.items()):
                if kind == "ReplicaSet":
                    self._reconcile_replicaset(ns, obj)
            for (kind, ns, _), obj in list(self.objects.items()):
                if kind == "Pod":
                    self._advance_pod(ns, obj)
                if (
                    kind == "Service"
                    and obj["spec"].get("type") == "LoadBalancer"
                    and not obj.get("status", {}).get("loadBalancer", {}).get("ingress")
                ):
                    obj["status"] = {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}}
                    self._bump(kind, obj, "MODIFIED")
            for (kind, ns, _), obj in list(self.objects.items()):
                if kind == "Deployment":
                    self._deployment_status(ns, obj)

    def _owned(self, kind: str, ns: str, owner: dict[str, Any]) -> list[dict[str, Any]]:
        uid = owner["metadata"]["uid"]
        return [
            o
            for (k, n, _), o in self.objects.items()
            if k == kind
            and n == ns
            and any(r["uid"] == uid for r in o["metadata"].get("ownerReferences") or [])
        ]

    def _reconcile_deployment(self, ns: str, dep: dict[str, Any]) -> None:
        template = dep["spec"]["template"]
        digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]
        sets = self._owned("ReplicaSet", ns, dep)
        revisions = [int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]) for rs in sets]
        current = next((rs for rs in sets if rs["metadata"]["labels"]["pod-template-hash"] == digest), None)
        top = max(revisions, default=0)
        if current is None:
            labels = {**template["metadata"]["labels"], "pod-template-hash": digest}
            tmpl = copy.deepcopy(template)
            tmpl["metadata"]["labels"] = labels
            rs: dict[str, Any] = {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": f"{dep['metadata']['name']}-{digest}",
                    "labels": labels,
                    "annotations": {"deployment.kubernetes.io/revision": str(top + 1)},
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "Deployment",
                            "name": dep["metadata"]["name"],
                            "uid": dep["metadata"]["uid"],
                            "controller": True,
                        }
                    ],
                },
                "spec": {"replicas": 0, "selector": {"matchLabels": labels}, "template": tmpl},
            }
            current = self.create("ReplicaSet", ns, rs)
            current = self.objects[("ReplicaSet", ns, current["metadata"]["name"])]
            dep["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = str(top + 1)
            dep["metadata"]["progressStarted"] = time.monotonic()  # double-internal, stripped on read
            self._bump("Deployment", dep, "MODIFIED")
        elif int(current["metadata"]["annotations"]["deployment.kubernetes.io/revision"]) != top or dep[
            "metadata"
        ].get("annotations", {}).get("deployment.kubernetes.io/revision") != str(top):
            if int(current["metadata"]["annotations"]["deployment.kubernetes.io/revision"]) != top:
                # A rollback to an old template reuses its ReplicaSet under a new revision, as Kubernetes does.
                current["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = str(top + 1)
                self._bump("ReplicaSet", current, "MODIFIED")
                top += 1
                dep["metadata"]["progressStarted"] = time.monotonic()
            dep["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = str(top)
            self._bump("Deployment", dep, "MODIFIED")
        desired = int(dep["spec"].get("replicas", 1))
        old = [rs for rs in self._owned("ReplicaSet", ns, dep) if rs is not current]
        if (dep["spec"].get("strategy") or {}).get("type") == "Recreate":
            # Every old pod goes before the new ReplicaSet gets any.
            for rs in old:
                if rs["spec"]["replicas"] != 0:
                    rs["spec"]["replicas"] = 0
                    self._bump("ReplicaSet", rs, "MODIFIED")
            if any(self._owned("Pod", ns, rs) for rs in old):
                return
            if current["spec"]["replicas"] != desired:
                current["spec"]["replicas"] = desired
                self._bump("ReplicaSet", current, "MODIFIED")
            return
        surge_text = str(dep["spec"]["strategy"]["rollingUpdate"]["maxSurge"])
        surge = (
            math.ceil(desired * int(surge_text[:-1]) / 100) if surge_text.endswith("%") else int(surge_text)
        )
        surge = max(1, surge)
        old_total = sum(int(rs["spec"]["replicas"]) for rs in old)
        new_ready = sum(1 for p in self._owned("Pod", ns, current) if _ready(p))
        target_new = min(desired, max(int(current["spec"]["replicas"]), desired + surge - old_total))
        if target_new != current["spec"]["replicas"]:
            current["spec"]["replicas"] = target_new
            self._bump("ReplicaSet", current, "MODIFIED")
        allowed_old = max(0, desired - new_ready)
        ordered: list[dict[str, Any]] = sorted(old, key=lambda r: str(r["metadata"]["name"]))
        for rs in ordered:
            keep = min(int(rs["spec"]["replicas"]), allowed_old)
            allowed_old -= keep
            if keep != rs["spec"]["replicas"]:
                rs["spec"]["replicas"] = keep
                self._bump("ReplicaSet", rs, "MODIFIED")

    def _reconcile_replicaset(self, ns: str, rs: dict[str, Any]) -> None:
        pods = sorted(self._owned("Pod", ns, rs), key=lambda p: p["metadata"]["name"])
        want = int(rs["spec"]["replicas"])
        for pod in pods[want:]:
            self.delete("Pod", ns, pod["metadata"]["name"])
        for _ in range(want - len(pods)):
            template = rs["spec"]["template"]
            name = f"{rs['metadata']['name']}-{uuid.uuid4().hex[:5]}"
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": name,
                    "labels": dict(template["metadata"]["labels"]),
                    "annotations": dict(template["metadata"].get("annotations") or {}),
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "ReplicaSet",
                            "name": rs["metadata"]["name"],
                            "uid": rs["metadata"]["uid"],
                            "controller": True,
                        }
                    ],
                },
                "spec": copy.deepcopy(template["spec"]),
                "status": {"phase": "Pending"},
            }
            self.create("Pod", ns, pod)
            rs_status = rs.setdefault("status", {})
            rs_status["replicas"] = want

    def _advance_pod(self, ns: str, pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        spec, status_ = pod["spec"], pod["status"]
        inits = [c["name"] for c in spec.get("initContainers") or []]
        containers = spec["containers"]
        crashing = any(
            e.get("name") == CRASH_VARIABLE and e.get("value") in self.crash_markers
            for c in containers
            for e in c.get("env") or []
        )
        missing = [c for c in containers if any(c["image"].startswith(p) for p in self.unpullable)]
        if missing:
            if name in self.pull_failures:
                return
            self.pull_failures.add(name)
            status_.update(
                phase="Pending",
                containerStatuses=[
                    _container_status(
                        c,
                        {
                            "waiting": {
                                "reason": "ImagePullBackOff",
                                "message": f'Back-off pulling image "{c["image"]}"',
                            }
                        },
                    )
                    for c in missing
                ],
            )
            self._event(ns, name, "Failed", f'Failed to pull image "{missing[0]["image"]}": not found')
        elif status_["phase"] == "Pending":
            for init in inits:
                self.logs.setdefault((name, init), []).append(
                    f"storage-initializer unpacked package into {name}"
                )
            status_.update(
                phase="Running",
                podIP=f"10.244.0.{len(self.logs) % 250 + 2}",
                initContainerStatuses=[
                    {
                        "name": i,
                        "ready": True,
                        "restartCount": 0,
                        "image": "x",
                        "imageID": "",
                        "state": {"terminated": {"exitCode": 0, "reason": "Completed"}},
                    }
                    for i in inits
                ],
                containerStatuses=[
                    _container_status(c, {"running": {"startedAt": _now()}}) for c in containers
                ],
            )
        elif crashing:
            for c in status_["containerStatuses"]:
                c["restartCount"] += 1
                c["ready"] = False
                c["state"] = {
                    "waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": f"back-off restarting failed container {c['name']}",
                    }
                }
                self.logs.setdefault((name, c["name"]), []).append(
                    "Traceback (most recent call last): init() failed"
                )
            self._event(ns, name, "BackOff", "Back-off restarting failed container")
        elif not all(c["ready"] for c in status_["containerStatuses"]):
            for c in status_["containerStatuses"]:
                c["ready"] = True
                self.logs.setdefault((name, c["name"]), []).append(
                    f"Listening on http://0.0.0.0:5001 ({name})"
                )
            status_["conditions"] = [{"type": "Ready", "status": "True"}]
        else:
            return
        self._bump("Pod", pod, "MODIFIED")

    def _event(self, ns: str, involved: str, reason: str, message: str) -> None:
        name = f"{involved}.{uuid.uuid4().hex[:8]}"
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": {"kind": "Pod", "name": involved, "namespace": ns},
            "reason": reason,
            "message": message,
            "type": "Warning",
            "lastTimestamp": _now(),
        }
        self.create("Event", ns, event, validate=False)

    def _deployment_status(self, ns: str, dep: dict[str, Any]) -> None:
        sets = self._owned("ReplicaSet", ns, dep)
        revision = dep["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision")
        pods = [p for rs in sets for p in self._owned("Pod", ns, rs)]
        current = [
            rs
            for rs in sets
            if rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == revision
        ]
        updated = [p for rs in current for p in self._owned("Pod", ns, rs)]
        desired = int(dep["spec"].get("replicas", 1))
        complete = len(updated) == desired == len(pods) and all(_ready(p) for p in pods)
        deadline = dep["spec"].get("progressDeadlineSeconds", 600) * self.progress_deadline_scale
        started = dep["metadata"].get("progressStarted", time.monotonic())
        if complete:
            progressing = {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
        elif time.monotonic() - started > deadline:
            progressing = {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": "ReplicaSet has timed out progressing.",
            }
        else:
            progressing = {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}
        new = {
            "observedGeneration": dep["metadata"]["generation"],
            "replicas": len(pods),
            "updatedReplicas": len(updated),
            "readyReplicas": sum(1 for p in pods if _ready(p)),
            "availableReplicas": sum(1 for p in pods if _ready(p)),
            "conditions": [progressing],
        }
        if dep.get("status") != new:
            dep["status"] = new
            self._bump("Deployment", dep, "MODIFIED")


def _container_status(container: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """A container's status as the kubelet reports it before the container is ready."""
    return {
        "name": container["name"],
        "ready": False,
        "restartCount": 0,
        "image": container["image"],
        "imageID": "",
        "state": state,
    }


def _has(values: list[str] | None, wanted: str) -> bool:
    return bool(values) and ("*" in values or wanted in values)  # type: ignore[operator]


def _ready(pod: dict[str, Any]) -> bool:
    statuses = pod.get("status", {}).get("containerStatuses") or []
    return bool(statuses) and all(c.get("ready") for c in statuses)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _public(obj: dict[str, Any]) -> dict[str, Any]:
    obj["metadata"].pop("progressStarted", None)
    return obj


class Handler(BaseHTTPRequestHandler):
    cluster: Cluster
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, code: int, body: Any) -> None:
        data = (json.dumps(body) if not isinstance(body, str) else body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json" if not isinstance(body, str) else "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length)) if length else None

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self.cluster.requests.append((method, self.path))
        self.cluster.authorizations.append(self.headers.get("Authorization"))
        try:
            if url.path == "/version":
                return self._send(200, {"major": "1", "minor": "37", "gitVersion": "v1.37.0-double"})
            if url.path == "/api/v1/nodes":
                return self._send(
                    200,
                    {
                        "kind": "NodeList",
                        "items": [
                            {
                                "metadata": {"name": "node-1"},
                                "status": {
                                    "addresses": [
                                        {"type": "InternalIP", "address": self.cluster.node_address}
                                    ]
                                },
                            }
                        ],
                    },
                )
            self._resource(method, url.path, query)
        except ApiError as exc:
            self._send(exc.code, exc.body)
        except (BrokenPipeError, ConnectionResetError):
            return

    def _resource(self, method: str, path: str, query: dict[str, str]) -> None:
        for (prefix, plural), (_, kind) in KINDS.items():
            head = f"{prefix}/namespaces/"
            if not path.startswith(head):
                continue
            parts = path[len(head) :].split("/")
            if len(parts) < 2 or parts[1] != plural:
                continue
            ns, rest = parts[0], parts[2:]
            self._authorize(method, prefix, plural, ns, rest, query)
            return self._dispatch(method, kind, ns, rest, query)
        raise ApiError(404, "NotFound", f"the server could not find the requested resource ({path})")

    def _authorize(
        self, method: str, prefix: str, plural: str, ns: str, rest: list[str], query: dict[str, str]
    ) -> None:
        """RBAC for ServiceAccount tokens: the verb, resource (and subresource), API group and object name
        of the request against the rules of every Role bound to the account in that namespace."""
        bearer = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
        account = self.cluster.service_account_tokens.get(bearer)
        if account is None:
            return
        name = rest[0] if rest else ""
        resource = plural + (f"/{rest[1].split(':')[0]}" if len(rest) > 1 else "")
        if method == "GET":
            verb = "get" if name else ("watch" if query.get("watch") == "true" else "list")
        else:
            verb = {"POST": "create", "PUT": "update", "DELETE": "delete", "PATCH": "patch"}[method]
        group = "" if prefix == "/api/v1" else prefix.split("/")[2]
        if not self.cluster.allows(account, ns, group, resource, verb, name):
            user = f"system:serviceaccount:{account[0]}:{account[1]}"
            what = f'{plural} "{name}"' if name else plural
            message = (
                f'{what} is forbidden: User "{user}" cannot {verb} resource "{resource}" in API group '
                f'"{group}" in the namespace "{ns}"'
            )
            self.cluster.forbidden.append(message)
            raise ApiError(403, "Forbidden", message)

    def _proxy(self, ns: str, name_port: str, path: str) -> None:
        """services/{name}[:port]/proxy/{path}: as the API server does, to one of the Service's pods."""
        name, _, port = name_port.partition(":")
        service = self.cluster.get("Service", ns, name)
        ports = {p.get("name", ""): p for p in service["spec"]["ports"]}
        if port not in ports:
            raise ApiError(503, "ServiceUnavailable", f'no endpoints available for service "{name_port}"')
        base = self.cluster.proxies.get((ns, name, port))
        if base is None:
            raise ApiError(503, "ServiceUnavailable", f'no endpoints available for service "{name}"')
        # Like kube-apiserver: the Authorization header authenticated the caller and is removed
        # (WithAuthentication deletes it); the proxy forwards the other end-to-end headers to the pod.
        hop_by_hop = {"authorization", "connection", "host", "keep-alive", "transfer-encoding", "upgrade"}
        headers = {k: v for k, v in self.headers.items() if k.lower() not in hop_by_hop}
        self.cluster.proxied_headers.append(dict(headers))
        forwarded = urllib.request.Request(f"{base}/{path}", headers=headers)
        try:
            with urllib.request.urlopen(forwarded, timeout=5) as response:
                status, data = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, data = exc.code, exc.read()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self, method: str, kind: str, ns: str, rest: list[str], query: dict[str, str]) -> None:
        c = self.cluster
        if not rest:
            if method == "GET" and query.get("watch") == "true":
                return self._watch(kind, ns, query)
            if method == "GET":
                items = [_public(o) for o in c.select(kind, ns, query.get("labelSelector", ""))]
                return self._send(
                    200,
                    {
                        "kind": f"{kind}List",
                        "apiVersion": "v1",
                        "metadata": {"resourceVersion": str(c.rv)},
                        "items": items,
                    },
                )
            if method == "POST":
                body = self._body()
                if body.get("kind") != kind:
                    raise ApiError(400, "BadRequest", f"expected kind {kind}, got {body.get('kind')}")
                return self._send(201, _public(c.create(kind, ns, body)))
            raise ApiError(405, "MethodNotAllowed", method)
        name = rest[0]
        if len(rest) == 2 and rest[1] == "log" and kind == "Pod" and method == "GET":
            return self._log(ns, name, query)
        if len(rest) >= 2 and rest[1] == "proxy" and kind == "Service" and method == "GET":
            return self._proxy(ns, name, "/".join(rest[2:]))
        if len(rest) != 1:
            raise ApiError(404, "NotFound", "no such subresource")
        if method == "GET":
            return self._send(200, _public(c.get(kind, ns, name)))
        if method == "PUT":
            body = self._body()
            if body.get("metadata", {}).get("name") != name:
                raise ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")
            return self._send(200, _public(c.replace(kind, ns, name, body)))
        if method == "DELETE":
            self._body()
            return self._send(200, c.delete(kind, ns, name))
        raise ApiError(405, "MethodNotAllowed", method)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _watch(self, kind: str, ns: str, query: dict[str, str]) -> None:
        c = self.cluster
        selector = query.get("labelSelector", "")
        deadline = time.monotonic() + float(query.get("timeoutSeconds", "30"))
        with c.lock:
            since = int(query.get("resourceVersion") or c.rv)
            initial = (
                [] if query.get("resourceVersion") else [("ADDED", o) for o in c.select(kind, ns, selector)]
            )
        self._start_stream()
        for event, obj in initial:
            self._chunk(json.dumps({"type": event, "object": _public(obj)}).encode() + b"\n")
        while time.monotonic() < deadline and not c.stopped:
            with c.lock:
                pending = [
                    (rv, ev, o)
                    for rv, ev, o in c.history
                    if rv > since
                    and o["kind"] == kind
                    and o["metadata"].get("namespace") == ns
                    and matches(o["metadata"].get("labels") or {}, selector)
                ]
                if not pending:
                    c.changed.wait(0.2)
                    continue
                since = max(since, pending[-1][0])
            for _, event, obj in pending:
                self._chunk(
                    json.dumps({"type": event, "object": _public(copy.deepcopy(obj))}).encode() + b"\n"
                )
        self._chunk(b"")

    def _log(self, ns: str, name: str, query: dict[str, str]) -> None:
        c = self.cluster
        pod = c.get("Pod", ns, name)
        names = [x["name"] for x in (pod["spec"].get("initContainers") or []) + pod["spec"]["containers"]]
        container = query.get("container")
        if container is None and len(names) > 1:
            raise ApiError(
                400,
                "BadRequest",
                f"a container name must be specified for pod {name}, choose one of: {names}",
            )
        if container not in names:
            raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {name}")
        lines = list(c.logs.get((name, container or names[0]), []))
        if "tailLines" in query:
            lines = lines[-int(query["tailLines"]) :] if int(query["tailLines"]) else []
        if query.get("follow") != "true":
            return self._send(200, "".join(line + "\n" for line in lines))
        self._start_stream()
        for line in lines:
            self._chunk((line + "\n").encode())
        sent = len(c.logs.get((name, container or names[0]), []))
        while not c.stopped:
            with c.lock:
                if ("Pod", ns, name) not in c.objects:
                    break
                now = c.logs.get((name, container or names[0]), [])
                fresh, sent = now[sent:], len(now)
                if not fresh:
                    c.changed.wait(0.2)
            for line in fresh:
                self._chunk((line + "\n").encode())
        self._chunk(b"")

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")

    def do_DELETE(self) -> None:
        self._route("DELETE")


class ApiServer:
    """Serves a Cluster on a loopback port and ticks its controllers until stopped."""

    def __init__(self, tick_s: float = 0.05) -> None:
        self.cluster = Cluster()
        handler = type("BoundHandler", (Handler,), {"cluster": self.cluster})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._tick_s = tick_s
        self._threads = [
            threading.Thread(target=self._server.serve_forever, daemon=True),
            threading.Thread(target=self._ticker, daemon=True),
        ]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _ticker(self) -> None:
        while not self.cluster.stopped:
            self.cluster.tick()
            time.sleep(self._tick_s)

    def start(self) -> ApiServer:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self.cluster.stopped = True
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, predicate: Callable[[Cluster], bool], timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.cluster):
            if time.monotonic() > deadline:
                raise AssertionError("the double's cluster did not reach the expected state")
            time.sleep(0.05)
