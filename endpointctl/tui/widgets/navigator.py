"""The backend → endpoint → deployment tree. Updated in place by key so the cursor and scroll survive refreshes."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from endpointctl.core.views import BackendStatus, DeploymentView, EndpointView
from endpointctl.tui.format import STATE_GLYPH, state_style, traffic_summary
from endpointctl.tui.target import Target


@dataclass(frozen=True)
class EndpointEntry:
    endpoint: EndpointView
    deployments: Sequence[DeploymentView] = ()


@dataclass(frozen=True)
class BackendEntry:
    status: BackendStatus
    endpoints: Sequence[EndpointEntry] = ()
    error: str = ""


@dataclass
class NavigatorModel:
    backends: list[BackendEntry] = field(default_factory=list)

    def endpoint_names(self) -> list[Target]:
        return [Target(b.status.name, e.endpoint.name) for b in self.backends for e in b.endpoints]

    def find(self, target: Target) -> EndpointEntry | None:
        for backend in self.backends:
            if backend.status.name != target.backend:
                continue
            for entry in backend.endpoints:
                if entry.endpoint.name == target.endpoint:
                    return entry
        return None


def backend_label(entry: BackendEntry) -> Text:
    status = entry.status
    if not status.available or entry.error:
        return Text.assemble((f"✖ {status.name}", "bold red"), (f": {entry.error or status.reason}", "dim"))
    context = f" ({status.context})" if status.context else ""
    return Text.assemble(
        (f"▣ {status.name}", "bold"), (context, "dim"), (f"  {len(entry.endpoints)} ep", "dim")
    )


def endpoint_label(view: EndpointView) -> Text:
    state = view.provisioning_state
    return Text.assemble(
        (f"{STATE_GLYPH.get(state, '?')} ", state_style(state)),
        (view.name, "bold"),
        (f"  {view.spec.auth_mode}  {traffic_summary(view.traffic, view.mirror_traffic)}", "dim"),
    )


def deployment_label(view: DeploymentView, endpoint: EndpointView) -> Text:
    state = view.provisioning_state
    desired = getattr(view.spec, "instance_count", None)
    desired_text = str(desired) if desired is not None else "?"
    traffic = endpoint.traffic.get(view.name, 0)
    mirror = endpoint.mirror_traffic.get(view.name, 0)
    extra = f" ⇉{mirror}%" if mirror else ""
    return Text.assemble(
        (f"{STATE_GLYPH.get(state, '?')} ", state_style(state)),
        view.name,
        (f" {state} {view.ready_instances}/{desired_text} {traffic}%{extra}", "dim"),
    )


class Navigator(Tree[Target]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", tooltip="Filter endpoints and deployments by name")
    ]

    class TargetHighlighted(Message):
        def __init__(self, target: Target) -> None:
            super().__init__()
            self.target = target

    class FilterRequested(Message):
        pass

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("backends", id=id)
        self.show_root = False
        self.guide_depth = 2
        self.filter_text = ""
        self.model = NavigatorModel()
        self._by_key: dict[str, TreeNode[Target]] = {}
        self._labels: dict[str, Hashable] = {}

    def action_filter(self) -> None:
        self.post_message(self.FilterRequested())

    def set_filter(self, text: str) -> None:
        self.filter_text = text.strip().lower()
        self.border_title = f"/{self.filter_text}" if self.filter_text else None
        self.update_model(self.model)

    def _matches(self, entry: EndpointEntry) -> bool:
        if not self.filter_text:
            return True
        if self.filter_text in entry.endpoint.name.lower():
            return True
        return any(self.filter_text in d.name.lower() for d in entry.deployments)

    def update_model(self, model: NavigatorModel) -> None:
        """Diff the model against the tree: add, relabel and remove nodes by key; never clear."""
        self.model = model
        wanted: set[str] = set()
        for backend in model.backends:
            btarget = Target(backend.status.name)
            bkey = (backend.status, backend.error, len(backend.endpoints))
            bnode = self._ensure(
                self.root, btarget, bkey, partial(backend_label, backend), leaf=False, expand=True
            )
            wanted.add(btarget.key)
            for entry in backend.endpoints:
                if not self._matches(entry):
                    continue
                etarget = Target(btarget.backend, entry.endpoint.name)
                ep = entry.endpoint
                ekey = (
                    ep.provisioning_state,
                    ep.spec.auth_mode,
                    tuple(ep.traffic.items()),
                    tuple(ep.mirror_traffic.items()),
                )
                enode = self._ensure(
                    bnode, etarget, ekey, partial(endpoint_label, ep), leaf=False, expand=True
                )
                wanted.add(etarget.key)
                for dep in entry.deployments:
                    dtarget = Target(btarget.backend, entry.endpoint.name, dep.name)
                    dkey = (
                        dep.provisioning_state,
                        dep.ready_instances,
                        getattr(dep.spec, "instance_count", None),
                        ep.traffic.get(dep.name, 0),
                        ep.mirror_traffic.get(dep.name, 0),
                    )
                    self._ensure(
                        enode,
                        dtarget,
                        dkey,
                        partial(deployment_label, dep, ep),
                        leaf=True,
                        expand=False,
                    )
                    wanted.add(dtarget.key)
        # Children before parents, so removing a parent never orphans a tracked child node.
        for key in sorted(set(self._by_key) - wanted, key=lambda k: -k.count("/")):
            node = self._by_key.pop(key)
            self._labels.pop(key, None)
            if node.tree is self and node.parent is not None:
                node.remove()

    def _ensure(
        self,
        parent: TreeNode[Target],
        target: Target,
        inputs: Hashable,
        label: Callable[[], Text],
        *,
        leaf: bool,
        expand: bool,
    ) -> TreeNode[Target]:
        # `inputs` is what the label is drawn from: comparing it is cheap, drawing 4,000 labels a second is not.
        key = target.key
        node = self._by_key.get(key)
        if node is None:
            text = label()
            node = (
                parent.add_leaf(text, data=target) if leaf else parent.add(text, data=target, expand=expand)
            )
            self._by_key[key] = node
            self._labels[key] = inputs
        elif self._labels.get(key) != inputs:
            node.set_label(label())
            self._labels[key] = inputs
        return node

    def select_target(self, target: Target) -> bool:
        node = self._by_key.get(target.key)
        if node is None:
            return False
        if node.parent is not None:
            node.parent.expand()
        self.move_cursor(node)
        return True

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[Target]) -> None:
        event.stop()
        if event.node.data is not None:
            self.post_message(self.TargetHighlighted(event.node.data))
