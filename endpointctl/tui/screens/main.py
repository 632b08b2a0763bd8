"""The main screen: navigator on the left, the selected target's panes on the right, a footer of keys."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.timer import Timer
from textual.widgets import Footer, Static, TabbedContent, TabPane

from endpointctl.core.capabilities import Capabilities, Capability
from endpointctl.tui.command_line import Command, CommandError, parse_command
from endpointctl.tui.context import tui_context
from endpointctl.tui.model_loader import load_model
from endpointctl.tui.screens.endpoint_actions import EndpointActions
from endpointctl.tui.screens.prompt import PromptScreen
from endpointctl.tui.target import Target
from endpointctl.tui.widgets.editor_pane import EditorPane
from endpointctl.tui.widgets.invoke_pane import InvokePane
from endpointctl.tui.widgets.logs_pane import LogsPane
from endpointctl.tui.widgets.navigator import Navigator, NavigatorModel
from endpointctl.tui.widgets.overview import OverviewPane
from endpointctl.tui.widgets.pane import Pane
from endpointctl.tui.widgets.traffic_pane import TrafficPane

TABS: tuple[tuple[str, str], ...] = (
    ("overview", "1 Overview"),
    ("logs", "2 Logs"),
    ("editor", "3 YAML"),
    ("traffic", "4 Traffic"),
    ("invoke", "5 Invoke"),
)
TAB_NEEDS: dict[str, Capability] = {
    "logs": Capability.LOGS,
    "traffic": Capability.TRAFFIC,
    "invoke": Capability.INVOKE,
}


class MainScreen(EndpointActions):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("o,1", "tab('overview')", "Overview", key_display="o"),
        Binding("l,2", "tab('logs')", "Logs", key_display="l"),
        Binding("e,3", "tab('editor')", "YAML", key_display="e"),
        Binding("t,4", "tab('traffic')", "Traffic", key_display="t"),
        Binding("i,5", "tab('invoke')", "Invoke", key_display="i"),
        Binding("escape", "focus_navigator", "Navigator", show=False, tooltip="Show and focus the navigator"),
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
        self._tree_timer: Timer | None = None
        self._first_load = True
        # Started on an empty data directory: the first endpoint to appear (created from the editor, or by another
        # client) is selected, as the first one is when there are some at start.
        self._select_pending = True

    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            yield Navigator(id="navigator")
            with TabbedContent(id="tabs", initial="overview"):
                for tab_id, title in TABS:
                    with TabPane(title, id=tab_id):
                        yield self._pane(tab_id)
        yield Static("", id="capbar")
        yield Footer()

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
        if tui_context(self).ready:
            self.refresh_tree()
        else:
            self.query_one("#capbar", Static).update(Text(" opening the backends… ", style="dim"))

    def service_ready(self) -> None:
        """The façade is open (the app opens it after the first frame): load the tree and the visible pane."""
        self.refresh_tree()
        for pane in self.panes:
            pane.service_ready()

    # --- the navigator's poll: re-armed only after it finishes -----------------------------------
    def action_reload(self) -> None:
        self.refresh_tree()

    @work(exit_on_error=False, exclusive=True, group="tree")
    async def refresh_tree(self) -> None:
        ctx = tui_context(self)
        # Nothing to repaint under a modal: skip the round trip, keep the schedule.
        if self.app.screen is self or self._first_load:
            try:
                model = await load_model(ctx.service)
            except Exception as exc:
                self.notify(f"refresh: {exc}", severity="error", timeout=4)
            else:
                if not self.is_attached:
                    return  # the app is shutting down
                self.apply_model(model)
        if self._tree_timer is not None:
            self._tree_timer.stop()
        self._tree_timer = self.set_timer(ctx.poll_s, self.refresh_tree)

    def apply_model(self, model: NavigatorModel) -> None:
        self.capabilities = {b.status.name: b.status.capabilities for b in model.backends}
        self.navigator.update_model(model)
        self._first_load = False
        if self._select_pending:
            self._select_pending = not self._select_first(model)
        self._show_capabilities()
        self.refresh_bindings()

    def _select_first(self, model: NavigatorModel) -> bool:
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
        for pane in self.panes:
            pane.retarget(event.target, caps)
        self._show_capabilities()
        self.refresh_bindings()

    def on_navigator_filter_requested(self) -> None:
        def done(value: str | None) -> None:
            if value is not None:
                self.navigator.set_filter(value)

        self.app.push_screen(PromptScreen("Filter by name", self.navigator.filter_text, bottom=True), done)

    def _show_capabilities(self) -> None:
        bar = self.query_one("#capbar", Static)
        if self.target is None:
            bar.update("")
            return
        caps = self.capabilities.get(self.target.backend)
        text = Text.assemble((f" {self.target.describe()} ", "bold reverse"))
        if caps is not None:
            missing = [c for c in Capability if c not in caps]
            for capability in missing[:2]:
                text.append(
                    f"  ⊘ {capability.value.replace('_', ' ')}: {caps.why_not(capability)}", style="dim"
                )
        bar.update(text)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        active = event.pane.id
        for pane in self.panes:
            pane.set_active(pane.id == f"pane-{active}")

    # --- actions ------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "tab" and parameters and self.target is not None:
            needs = TAB_NEEDS.get(str(parameters[0]))
            caps = self.capabilities.get(self.target.backend)
            if needs is not None and caps is not None and needs not in caps:
                return None  # shown greyed out; the pane's banner says why
        return True

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        pane = self.query_one(f"#pane-{tab}", Pane)
        pane.set_active(True)
        focusable = [w for w in pane.query("*") if w.focusable]
        if focusable:
            # Now, not after the queued events (`focus()` is deferred): keys typed ahead go to the new pane.
            self.set_focus(focusable[0])

    def action_focus_navigator(self) -> None:
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
            self.navigator.set_filter(command.text)
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
