"""The main screen: navigator on the left, the selected target's panes on the right, a footer of keys."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Static, TabbedContent, TabPane, TextArea

from endpointctl.core.capabilities import Capabilities, Capability
from endpointctl.tui.command_line import Command, CommandError, parse_command
from endpointctl.tui.context import tui_context
from endpointctl.tui.model.detail import EndpointDetail
from endpointctl.tui.model.snapshot import Snapshot
from endpointctl.tui.screens.endpoint_actions import EndpointActions
from endpointctl.tui.screens.prompt import PromptScreen
from endpointctl.tui.target import Target
from endpointctl.tui.widgets.editor_pane import EditorPane
from endpointctl.tui.widgets.invoke_pane import InvokePane
from endpointctl.tui.widgets.logs_pane import LogsPane
from endpointctl.tui.widgets.navigator import Navigator
from endpointctl.tui.widgets.overview import OverviewPane
from endpointctl.tui.widgets.pane import Pane
from endpointctl.tui.widgets.traffic_pane import TrafficPane

# The tab titles carry their keys, so the footer keeps room for the pane's own keys, `? Help` and `q Quit`.
TABS: tuple[tuple[str, str], ...] = (
    ("overview", "o Overview"),
    ("logs", "l Logs"),
    ("editor", "e YAML"),
    ("traffic", "t Traffic"),
    ("invoke", "i Invoke"),
)
# Below this width the navigator gives its columns to the panes: a one-line breadcrumb instead, the tree on esc.
NARROW_COLUMNS = 100
TAB_NEEDS: dict[str, Capability] = {
    "logs": Capability.LOGS,
    "traffic": Capability.TRAFFIC,
    "invoke": Capability.INVOKE,
}


class MainScreen(EndpointActions):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("o,1", "tab('overview')", "Overview", key_display="o", show=False),
        Binding("l,2", "tab('logs')", "Logs", key_display="l", show=False),
        Binding("e,3", "tab('editor')", "YAML", key_display="e", show=False),
        Binding("t,4", "tab('traffic')", "Traffic", key_display="t", show=False),
        Binding("i,5", "tab('invoke')", "Invoke", key_display="i", show=False),
        # In a text area letters are text: the same switches with alt (or esc first, then the letter).
        Binding("alt+o", "tab('overview')", "Overview", show=False, priority=True),
        Binding("alt+l", "tab('logs')", "Logs", show=False, priority=True),
        Binding("alt+e", "tab('editor')", "YAML", show=False, priority=True),
        Binding("alt+t", "tab('traffic')", "Traffic", show=False, priority=True),
        Binding("alt+i", "tab('invoke')", "Invoke", show=False, priority=True),
        Binding("escape", "focus_navigator", "Tree", tooltip="Show and focus the navigator"),
        Binding("enter", "edit", "Edit", tooltip="Edit the YAML or the request body (esc leaves it)"),
        Binding(
            "h",
            "toggle_navigator",
            "Hide tree",
            show=False,
            tooltip="Full-width panes; esc brings the tree back",
        ),
        Binding("ctrl+l", "reload", "Refresh", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.target: Target | None = None
        self.capabilities: dict[str, Capabilities] = {}
        self._first_load = True
        # What the status row says besides the target: the last refresh failure, until a tick succeeds.
        self._problem = ""
        self.narrow = False
        self._tree_open = False  # narrow only: the operator asked for the tree (esc)
        # Started on an empty data directory: the first endpoint to appear (created from the editor, or by another
        # client) is selected, as the first one is when there are some at start.
        self._select_pending = True

    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            yield Navigator(id="navigator")
            with Vertical(id="main-column"):
                yield Static("", id="crumb")
                with TabbedContent(id="tabs", initial="overview"):
                    for tab_id, title in TABS:
                        with TabPane(title, id=tab_id):
                            yield self._pane(tab_id)
        yield Static("", id="capbar")
        # Compact, without the palette hint (it is in `?`): at 80 columns the pane keys, `? Help` and `q Quit` fit.
        yield Footer(compact=True, show_command_palette=False)

    @staticmethod
    def _pane(tab_id: str) -> Pane:
        panes: dict[str, type[Pane]] = {
            "overview": OverviewPane,
            "logs": LogsPane,
            "editor": EditorPane,
            "traffic": TrafficPane,
            "invoke": InvokePane,
        }
        return panes[tab_id](id=f"pane-{tab_id}")

    @property
    def navigator(self) -> Navigator:
        return self.query_one(Navigator)

    @property
    def panes(self) -> list[Pane]:
        return list(self.query(Pane))

    def on_mount(self) -> None:
        self.navigator.focus()
        self.query_one("#pane-overview", Pane).set_active(True)
        tui_context(self).model.listen(self)
        if tui_context(self).ready:
            self.service_ready()
        else:
            self.query_one("#capbar", Static).update(Text(" opening the backends… ", style="dim"))

    def on_resize(self, event: events.Resize) -> None:
        narrow = event.size.width < NARROW_COLUMNS
        if narrow == self.narrow:
            return
        self.narrow = narrow
        self.set_class(narrow, "-narrow")
        self.query_one("#crumb", Static).display = narrow
        if narrow and not self._tree_open:
            self.navigator.display = False
        elif not narrow:
            self.navigator.display = True
        self._show_crumb()

    def _show_crumb(self) -> None:
        crumb = self.query_one("#crumb", Static)
        if not self.narrow:
            return
        parts = [self.target.backend, self.target.endpoint, self.target.deployment] if self.target else []
        text = Text(
            " ▸ " + " › ".join(p for p in parts if p) if parts else " ▸ nothing selected", style="bold"
        )
        text.append("   esc: tree", style="dim")
        crumb.update(text)

    def on_tree_node_selected(self) -> None:
        """enter on a tree row: in a narrow terminal, hand the columns back to the pane."""
        if self.narrow:
            active = self.query_one(TabbedContent).active
            if active:
                self.action_tab(active)

    def on_unmount(self) -> None:
        ctx = tui_context(self)
        ctx.model.unlisten(self)
        ctx.logs.close()

    def service_ready(self) -> None:
        """The façade is open (the app opens it after the first frame): start the refresher, load the visible pane."""
        self._run_refresher()
        for pane in self.panes:
            pane.service_ready()

    # --- the state model: one refresher for every pane -------------------------------------------
    def action_reload(self) -> None:
        tui_context(self).model.wake()

    @work(exit_on_error=False, exclusive=True, group="refresher")
    async def _run_refresher(self) -> None:
        # Nothing to repaint under a modal: the refresher skips its round trips and keeps the schedule.
        await tui_context(self).model.run(paused=lambda: self.app.screen is not self and not self._first_load)

    def snapshot_changed(self, snapshot: Snapshot) -> None:
        if not self.is_attached:
            return  # the app is shutting down
        self._problem = ""
        self.apply_model(snapshot)
        for pane in self.panes:
            pane.snapshot_arrived(snapshot)

    def detail_changed(self, detail: EndpointDetail) -> None:
        if self.is_attached:
            self.query_one(OverviewPane).show_detail(detail)
            # The detail's events refine rollout timelines (real start, batches, end): redraw the rollout view.
            self.query_one(EditorPane).show_snapshot(tui_context(self).model.snapshot)

    def refresh_failed(self, what: str, error: Exception, retry_in: float) -> None:
        if not self.is_attached:
            return
        self._problem = f"{what}: {error} (retry in {retry_in:.0f} s)"
        self._show_capabilities()

    def apply_model(self, model: Snapshot) -> None:
        self.capabilities = {b.status.name: b.status.capabilities for b in model.backends}
        self.navigator.update_model(model)
        self._first_load = False
        if self._select_pending:
            self._select_pending = not self._select_first(model)
        if self.target is not None:
            caps = self.capabilities.get(self.target.backend)
            for pane in self.panes:
                if pane.caps is None and caps is not None:
                    pane.retarget(self.target, caps)
        self._show_capabilities()
        self.refresh_bindings()

    def _select_first(self, model: Snapshot) -> bool:
        if self.target is not None and self.target.endpoint is not None:
            return True  # the operator got there first
        targets = model.endpoint_names()
        if targets:
            # New nodes get their line numbers at the next refresh; the cursor can move only then.
            self.navigator.call_after_refresh(self.navigator.select_target, targets[0])
        return bool(targets)

    # --- selection ------------------------------------------------------------------------------
    def on_navigator_target_highlighted(self, event: Navigator.TargetHighlighted) -> None:
        self.target = event.target
        caps = self.capabilities.get(event.target.backend)
        tui_context(self).model.focus(event.target)
        for pane in self.panes:
            pane.retarget(event.target, caps)
        self._show_capabilities()
        self._show_crumb()
        self.refresh_bindings()

    def on_navigator_filter_requested(self) -> None:
        """`/`: the filter applies as it is typed; esc puts the previous one back; the selection survives."""
        keep, before = self.target, self.navigator.filter_text

        def done(value: str | None) -> None:
            self.apply_filter(before if value is None else value, keep)

        self.app.push_screen(
            PromptScreen(
                "Filter endpoints and deployments by name (as you type; esc: cancel)",
                before,
                bottom=True,
                on_change=lambda text: self.apply_filter(text, keep),
            ),
            done,
        )

    def apply_filter(self, text: str, keep: Target | None = None) -> None:
        navigator = self.navigator
        navigator.set_filter(text)
        if keep is not None:
            # Removed and re-added nodes get their lines at the next refresh: select once they have.
            navigator.call_after_refresh(navigator.select_target, keep)

    def _show_capabilities(self) -> None:
        """The status row: the target, rollouts in progress, the last refresh problem, the backend's state.

        What a backend cannot do is not repeated here: its keys are greyed in the footer, and `?` says why.
        """
        bar = self.query_one("#capbar", Static)
        if self.target is None:
            bar.update(Text(f" {self._problem}", style="bold red") if self._problem else "")
            return
        text = Text.assemble((f" {self.target.describe()} ", "bold reverse"))
        ctx = tui_context(self)
        now = ctx.clock()
        for timeline in ctx.model.rollouts.running()[:2]:
            text.append(f"  {timeline.title(now)}", style="bold yellow")
        backend = next(
            (b for b in self.navigator.model.backends if b.status.name == self.target.backend), None
        )
        if self._problem:
            text.append(f"  ✖ {self._problem}", style="bold red")
        elif backend is not None and (not backend.status.available or backend.error):
            # The navigator row says it short; the whole reason, with where it failed, is said here.
            where = f"{backend.status.context}: " if backend.status.context else ""
            text.append(f"  ✖ {where}{backend.error or backend.status.reason}", style="red")
        elif backend is not None and backend.status.context:
            text.append(f"  {backend.status.context}", style="dim")
        bar.update(text)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        active = event.pane.id
        for pane in self.panes:
            pane.set_active(pane.id == f"pane-{active}")

    # --- actions ------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "edit":
            if isinstance(self.focused, TextArea):
                return False  # already editing
            active = self.query_one(TabbedContent).active
            return bool(active) and bool(self.query_one(f"#pane-{active}", Pane).query(TextArea))
        if action == "tab" and parameters and self.target is not None:
            needs = TAB_NEEDS.get(str(parameters[0]))
            caps = self.capabilities.get(self.target.backend)
            if needs is not None and caps is not None and needs not in caps:
                return None  # shown greyed out; the pane's banner says why
        return True

    def action_tab(self, tab: str) -> None:
        if self.narrow:
            self._tree_open = False
            self.navigator.display = False
        self.query_one(TabbedContent).active = tab
        pane = self.query_one(f"#pane-{tab}", Pane)
        pane.set_active(True)
        # Never a text area: the next letter would be typed into the YAML or the request body, not switch panes.
        # `enter` (or a click) starts editing.
        focusable = [w for w in pane.query("*") if w.focusable and not isinstance(w, TextArea)]
        # Now, not after the queued events (`focus()` is deferred): keys typed ahead go to the new pane.
        self.set_focus(focusable[0] if focusable else None)
        self.refresh_bindings()

    def action_edit(self) -> None:
        """enter: start editing the active pane's text (the YAML, the request body)."""
        active = self.query_one(TabbedContent).active
        areas = [w for w in self.query_one(f"#pane-{active}", Pane).query(TextArea) if w.focusable]
        if areas:
            self.set_focus(areas[0])

    def action_focus_navigator(self) -> None:
        self._tree_open = True
        self.navigator.display = True
        self.navigator.focus()

    def action_toggle_navigator(self) -> None:
        navigator = self.navigator
        if navigator.display:
            # At 80 columns the tree takes a third of the width; logs and YAML want all of it.
            navigator.display = False
            active = self.query_one(TabbedContent).active
            if active:
                self.action_tab(active)
        else:
            self.action_focus_navigator()

    def run_command(self, line: str) -> None:
        try:
            command = parse_command(line)
        except CommandError as exc:
            self.notify(str(exc), severity="warning")
            return
        self.execute(command)

    def execute(self, command: Command) -> None:
        if command.verb == "quit":
            self.app.exit()
        elif command.verb == "help":
            self.app.action_help()  # type: ignore[attr-defined]
        elif command.verb == "filter":
            self.apply_filter(command.text, self.target)
        elif command.verb == "rollout":
            # The rollout is shown in the overview; a command word steers it (promote/abort confirm first).
            self.action_tab("overview")
            if command.text and self.target is not None:
                self.steer_rollout(self.target, command.text)
        elif command.verb in ("ep", "dep", "logs"):
            if self._goto(command) and command.verb == "logs":
                self.action_tab("logs")
            elif command.verb != "logs":
                self.navigator.focus()
        else:
            self.action_tab(command.verb if command.verb != "edit" else "editor")

    def _goto(self, command: Command) -> bool:
        """Select what the command names; missing parts come from the current selection."""
        current = self.target
        endpoint = command.endpoint or (current.endpoint if current else None)
        candidates = [
            t
            for t in self.navigator.model.endpoint_names()
            if (endpoint is None or t.endpoint == endpoint)
            and (command.backend is None or t.backend == command.backend)
        ]
        if command.deployment is not None and command.endpoint is None:
            # `:dep blue`: prefer the current endpoint, else any endpoint that has it.
            with_dep = [
                t
                for t in self.navigator.model.endpoint_names()
                if self._has_deployment(t, command.deployment)
            ]
            candidates = [
                t for t in with_dep if current is None or t.endpoint == current.endpoint
            ] or with_dep
        if not candidates:
            self.notify(f"no endpoint {endpoint or ''} found", severity="warning")
            return bool(command.verb == "logs" and current and current.endpoint)
        chosen = candidates[0]
        if command.deployment:
            chosen = Target(chosen.backend, chosen.endpoint, command.deployment)
        if not self.navigator.select_target(chosen):
            self.notify(f"{chosen.describe()} not found (filtered?)", severity="warning")
            return False
        return True

    def _has_deployment(self, target: Target, deployment: str) -> bool:
        entry = self.navigator.model.find(target)
        return entry is not None and any(d.name == deployment for d in entry.deployments)

    def open_file_in_editor(self) -> None:
        self.action_tab("editor")
        self.query_one(EditorPane).action_open_file()
