"""The backend → endpoint → deployment tree. Updated in place by key so the cursor and scroll survive refreshes."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from endpointctl.tui.format import STATE_GLYPH, state_style, traffic_summary
from endpointctl.tui.model.snapshot import BackendEntry, EndpointEntry, Snapshot
from endpointctl.tui.target import Target

if TYPE_CHECKING:
    from endpointctl.core.views import DeploymentView, EndpointView


def same_subtree(old: EndpointEntry, new: EndpointEntry) -> bool:
    """Whether an endpoint and its deployments would be drawn exactly as before (all the labels' inputs).

    Runs for every endpoint on every refresh: plain field comparisons, no allocation.
    """
    a, b = old.endpoint, new.endpoint
    if (
        a.provisioning_state != b.provisioning_state
        or a.traffic != b.traffic
        or a.mirror_traffic != b.mirror_traffic
        or a.context != b.context
        or a.spec.auth_mode != b.spec.auth_mode
        or len(old.deployments) != len(new.deployments)
    ):
        return False
    for p, q in zip(old.deployments, new.deployments, strict=True):
        if (
            p.provisioning_state != q.provisioning_state
            or p.instances != q.instances
            or p.spec.name != q.spec.name
            or getattr(p.spec, "instance_count", None) != getattr(q.spec, "instance_count", None)
        ):
            return False
    return True


def short_reason(reason: str, limit: int = 24) -> str:
    """The first clause of a reason, for a tree row: the whole text is on the status row and in `?`."""
    for stop in (": ", " (", "; "):
        head = reason.split(stop, 1)[0]
        if head and len(head) < len(reason):
            reason = head
    return reason if len(reason) <= limit else reason[: limit - 1] + "…"


def backend_label(entry: BackendEntry) -> Text:
    status = entry.status
    context = f" ({status.context})" if status.context else ""
    if not status.available or entry.error:
        # Short in the row: "✖ azure  not configured". The full reason is on the status row when the row is
        # focused, and in `?`.
        return Text.assemble(
            (f"✖ {status.name}", "bold red"),
            (f"  {short_reason((entry.error or status.reason).removeprefix(f'{status.name}: '))}", "dim"),
        )
    return Text.assemble(
        (f"▣ {status.name}", "bold"), (context, "dim"), (f"  {len(entry.endpoints)} ep", "dim")
    )


def endpoint_label(view: EndpointView, backend_context: str = "") -> Text:
    state = view.provisioning_state
    # An endpoint's own context (a namespace, another cluster) is shown only when its backend's does not say it.
    context = f" @{view.context}" if view.context and view.context not in backend_context else ""
    return Text.assemble(
        (f"{STATE_GLYPH.get(state, '?')} ", state_style(state)),
        (view.name, "bold"),
        (context, "dim"),
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


class NavigatorNode(TreeNode[Target]):
    """A tree node whose new label is drawn only when something reads it.

    A refresh may relabel hundreds of nodes while the screen shows forty: building their Text up front was most of
    a refresh's cost. Textual reads labels through `_label` (drawing, width), so deferring it there keeps `label`
    and every Tree feature exact.
    """

    _text: Text
    _draw: Callable[[], Text] | None = None

    @property
    def _label(self) -> Text:
        if self._draw is not None:
            self._text, self._draw = self._draw(), None
        return self._text

    @_label.setter
    def _label(self, value: Text) -> None:
        self._text, self._draw = value, None

    def defer_label(self, draw: Callable[[], Text]) -> None:
        self._draw = draw
        self._updates += 1  # what Tree's line cache is keyed on: the row is redrawn when next shown


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
        self.model = Snapshot()
        self._by_key: dict[str, TreeNode[Target]] = {}
        self._labels: dict[str, Hashable] = {}
        self._relabelled = 0
        # Per endpoint key: the entry its subtree was last drawn from, and its deployment keys.
        self._entries: dict[str, EndpointEntry] = {}
        self._children: dict[str, list[str]] = {}
        # Per backend: the context its endpoints' labels were drawn with (an endpoint's own context is shown only
        # when it differs), so a changed backend context re-checks every endpoint of that backend.
        self._contexts: dict[str, str] = {}

    def action_filter(self) -> None:
        self.post_message(self.FilterRequested())

    def set_filter(self, text: str) -> None:
        self.filter_text = text.strip().lower()
        self.update_model(self.model)

    def _filtered(self, entry: EndpointEntry) -> EndpointEntry | None:
        """What of an endpoint the filter shows: all of it when its name matches, else only the deployments
        whose names match (`gre` shows green, not blue), else nothing."""
        text = self.filter_text
        if not text or text in entry.endpoint.name.lower():
            return entry
        deployments = tuple(d for d in entry.deployments if text in d.name.lower())
        return replace(entry, deployments=deployments) if deployments else None

    def _show_filter(self, hidden: int) -> None:
        """The border says the filter is on, and what it hides (endpoints and deployments)."""
        self.border_title = f"/{self.filter_text} · {hidden} hidden" if self.filter_text else None

    def update_model(self, model: Snapshot) -> None:
        """Diff the model against the tree: add, relabel and remove nodes by key; never clear.

        An endpoint whose subtree would draw the same as last time is skipped whole, so a refresh costs a few field
        comparisons per endpoint plus work for what changed; labels are drawn and rows repainted only when shown.
        """
        self.model = model
        seen: set[str] = set()
        hidden = 0
        self._relabelled = 0
        bnode: TreeNode[Target] | None = None
        for backend in model.backends:
            bname = backend.status.name
            bcontext = backend.status.context
            bnode = self._ensure(
                self.root,
                bname,
                partial(Target, bname),
                (backend.status, backend.error, len(backend.endpoints)),
                partial(backend_label, backend),
                leaf=False,
                after=bnode,
            )
            seen.add(bname)
            recheck = self._contexts.get(bname, bcontext) != bcontext
            self._contexts[bname] = bcontext
            enode: TreeNode[Target] | None = None
            for full in backend.endpoints:
                shown = self._filtered(full)
                if shown is None:
                    hidden += 1 + len(full.deployments)
                    continue
                hidden += len(full.deployments) - len(shown.deployments)
                entry = shown
                ekey = f"{bname}/{entry.endpoint.name}"
                seen.add(ekey)
                previous = self._entries.get(ekey)
                if previous is not None and not recheck and same_subtree(previous, entry):
                    enode = self._by_key[ekey]
                    continue
                self._entries[ekey] = entry
                enode = self._update_endpoint(bnode, bname, bcontext, ekey, entry, enode)
        # Deepest first, so removing a parent never orphans a tracked child node.
        for key in sorted(self._entries.keys() - seen, key=lambda k: -k.count("/")):
            self._forget(key)
        for key in [k for k in self._contexts if k not in seen]:  # the backends, without scanning every node
            self._forget(key)
            del self._contexts[key]
        self._show_filter(hidden)
        if self._relabelled:
            # One repaint for every changed label; the line cache still serves the rows whose nodes did not change.
            self.refresh()

    def _update_endpoint(
        self,
        bnode: TreeNode[Target],
        bname: str,
        bcontext: str,
        ekey: str,
        entry: EndpointEntry,
        after: TreeNode[Target] | None,
    ) -> TreeNode[Target]:
        ep = entry.endpoint
        traffic, mirror = ep.traffic, ep.mirror_traffic
        enode = self._ensure(
            bnode,
            ekey,
            partial(Target, bname, ep.name),
            (
                ep.provisioning_state,
                ep.spec.auth_mode,
                ep.context,
                bcontext,
                tuple(traffic.items()),
                tuple(mirror.items()),
            ),
            partial(endpoint_label, ep, bcontext),
            leaf=False,
            after=after,
        )
        children: list[str] = []
        dnode: TreeNode[Target] | None = None
        for dep in entry.deployments:
            dkey = f"{ekey}/{dep.name}"
            dnode = self._ensure(
                enode,
                dkey,
                partial(Target, bname, ep.name, dep.name),
                (
                    dep.provisioning_state,
                    dep.ready_instances,
                    getattr(dep.spec, "instance_count", None),
                    traffic.get(dep.name, 0),
                    mirror.get(dep.name, 0),
                ),
                partial(deployment_label, dep, ep),
                leaf=True,
                after=dnode,
            )
            children.append(dkey)
        for gone in self._children.get(ekey, ()):
            if gone not in children:
                self._forget(gone)
        self._children[ekey] = children
        return enode

    def _forget(self, key: str) -> None:
        for child in self._children.pop(key, ()):
            self._forget(child)
        self._entries.pop(key, None)
        self._labels.pop(key, None)
        node = self._by_key.pop(key, None)
        if node is not None and node.tree is self and node.parent is not None:
            node.remove()

    def _ensure(
        self,
        parent: TreeNode[Target],
        key: str,
        target: Callable[[], Target],
        inputs: Hashable,
        label: Callable[[], Text],
        *,
        leaf: bool,
        after: TreeNode[Target] | None,
    ) -> TreeNode[Target]:
        # `inputs` is what the label is drawn from: comparing it is cheap, drawing 4,000 labels a second is not.
        node = self._by_key.get(key)
        if node is None:
            # Placed after its predecessor in the model, so nodes coming back when a filter is cleared (or
            # created by another client) keep the model's order instead of landing at the end.
            node = parent.add(
                label(),
                data=target(),
                before=0 if after is None and parent.children else None,
                after=after,
                expand=not leaf,
                allow_expand=not leaf,
            )
            self._by_key[key] = node
            self._labels[key] = inputs
        elif self._labels.get(key) != inputs:
            # Not `node.set_label()`: it builds the label now and schedules a repaint callback per node; hundreds
            # of those per refresh cost more than everything else together. One `refresh()` follows instead.
            assert isinstance(node, NavigatorNode)
            node.defer_label(label)
            self._labels[key] = inputs
            self._relabelled += 1
        return node

    def _add_node(
        self, parent: TreeNode[Target] | None, label: Text, data: Target | None, expand: bool = False
    ) -> TreeNode[Target]:
        # Tree._add_node (Textual 8.2.8, pinned) with our node class; the root stays a plain TreeNode.
        node = NavigatorNode(self, parent, self._new_id(), label, data, expanded=expand)
        self._tree_nodes[node._id] = node
        self._updates += 1
        return node

    def get_label_width(self, node: TreeNode[Target]) -> int:
        # Tree measures every row on each structural change by rendering its label; the cell length is enough.
        if node._allow_expand:
            icon = self.ICON_NODE_EXPANDED if node.is_expanded else self.ICON_NODE
            return cell_len(icon) + node._label.cell_len
        return node._label.cell_len

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
