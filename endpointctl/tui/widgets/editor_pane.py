"""Edit the running spec (or a file) as YAML, validated as you type; apply = diff, confirm, follow the rollout.

Invalid YAML can never be applied: apply re-parses the text and refuses while any diagnostic remains.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.timer import Timer
from textual.widgets import Static, TextArea

from endpointctl.core.capabilities import Capability
from endpointctl.tui.screens.diff import DiffScreen
from endpointctl.tui.screens.prompt import PromptScreen
from endpointctl.tui.widgets.error_text_area import ErrorTextArea
from endpointctl.tui.widgets.pane import Pane
from endpointctl.tui.widgets.rollout import RolloutPanel

# The spec models (pydantic) are imported where they are used: the first frame does not need them, and building
# them is a good part of a cold start.
if TYPE_CHECKING:
    from endpointctl.core.capabilities import Capabilities
    from endpointctl.core.spec import DeploymentSpec, EndpointSpec
    from endpointctl.core.views import DeploymentView
    from endpointctl.tui.model.rollouts import RolloutKey
    from endpointctl.tui.model.snapshot import Snapshot
    from endpointctl.tui.target import Target

Kind = Literal["endpoint", "deployment"]
VALIDATE_DELAY_S = 0.25
EDITOR_SOURCE = "<editor>"


def guess_kind(text: str) -> Kind:
    """A file with `endpoint_name` describes a deployment; otherwise an endpoint."""
    import yaml  # only when a file is opened: not on the first frame's import path

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return "deployment" if "endpoint_name:" in text else "endpoint"
    return "deployment" if isinstance(data, dict) and "endpoint_name" in data else "endpoint"


def _key_of(target: Target | None) -> RolloutKey | None:
    if target is None or target.endpoint is None or target.deployment is None:
        return None
    return (target.backend, target.endpoint, target.deployment)


class EditorPane(Pane):
    REQUIRES = Capability.ENDPOINTS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "apply", "Apply", priority=True),
        Binding("ctrl+o", "open_file", "Open file", priority=True),
        Binding("ctrl+r", "revert", "Revert", priority=True),
        Binding("ctrl+n", "toggle_notes", "Notes", priority=True),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.kind: Kind = "endpoint"
        self.is_new = False
        self.running_yaml = ""
        self.base_dir = Path.cwd()
        self.diagnostics: list[str] = []
        self.parsed: EndpointSpec | DeploymentSpec | None = None
        # What runs now (None for a file opened to create): the diff's "before" and what an update changes.
        self.running_spec: EndpointSpec | DeploymentSpec | None = None
        self._validate_timer: Timer | None = None
        self._loading = False
        self.serving_note = ""  # "revision 1 serves; revision 2 failed"
        # Whose rollout the panel shows: the selected deployment's, or the one this editor is applying.
        self.rollout_key: RolloutKey | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="blocked")
        yield Static("", id="editor-status")
        yield ErrorTextArea(id="editor")
        yield Static("", id="editor-errors")
        yield RolloutPanel(id="rollout")

    @property
    def area(self) -> ErrorTextArea:
        return self.query_one(ErrorTextArea)

    def retarget(self, target: Target | None, caps: Capabilities | None) -> None:
        if target != self.target:
            # The rollout view follows the selection: another deployment's rollout is never left on screen.
            self.rollout_key = _key_of(target)
            if self.is_attached:
                self._show_rollout()
        super().retarget(target, caps)

    def load(self, blocked: str | None) -> None:
        self._show_rollout()
        if self.is_new:
            return  # a file being created is not replaced by navigating
        if blocked is None:
            self._load_running()

    def show_snapshot(self, snapshot: Snapshot) -> None:
        self._show_rollout()

    def _show_rollout(self) -> None:
        key = self.rollout_key
        self.query_one(RolloutPanel).follow(key, self.ctx.model.rollouts.timeline(key) if key else None)

    @work(exit_on_error=False, exclusive=True, group="editor-load")
    async def _load_running(self) -> None:
        from endpointctl.core.spec import dump_yaml

        target = self.target
        if target is None or target.endpoint is None:
            return
        try:
            running: EndpointSpec | DeploymentSpec
            if target.deployment is not None:
                dep = await self.service.get_deployment(
                    target.endpoint, target.deployment, backend=target.backend
                )
                # What serves, not what was last applied: after a failed rollout, revert (ctrl+r) restores the
                # revision that kept serving, and the status line says which one that is.
                self.kind, running = "deployment", dep.serving_spec or dep.spec
                self.serving_note = (
                    f"revision {dep.serving_revision} serves; revision {dep.revision} {str(dep.provisioning_state).lower()}"
                    if dep.serves_another_revision
                    else ""
                )
            else:
                ep = await self.service.get_endpoint(target.endpoint, backend=target.backend)
                self.kind, running = "endpoint", ep.spec
                self.serving_note = ""
            text = dump_yaml(running)
        except Exception as exc:
            self.notify(f"editor: {exc}", severity="error")
            return
        if self.is_new or self.target != target:
            return  # a file was opened, or the selection moved, while this was loading
        self.running_yaml, self.running_spec = text, running
        self.base_dir = Path.cwd()
        self._set_text(text)

    def _set_text(self, text: str) -> None:
        self._loading = True
        self.area.load_text(text)
        self._loading = False
        self.validate()

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        if self._loading:
            return
        if self._validate_timer is not None:
            self._validate_timer.stop()
        self._validate_timer = self.set_timer(VALIDATE_DELAY_S, self.validate)

    def validate(self) -> bool:
        """Parse the buffer; show problems at their lines. True when it can be applied."""
        from endpointctl.core.spec import SpecError, parse_deployment, parse_endpoint

        text = self.area.text
        parser = parse_deployment if self.kind == "deployment" else parse_endpoint
        errors: list[tuple[int, str]] = []
        self.parsed = None
        try:
            self.parsed = parser(text, source=EDITOR_SOURCE, base_dir=self.base_dir)
        except SpecError as exc:
            for d in exc.diagnostics:
                where = f"{d.path}: " if d.path else ""
                errors.append((d.line, f"{where}{d.message}"))
        except Exception as exc:  # the parser must never take the editor down with it
            errors.append((0, str(exc)))
        self.diagnostics = [f"line {line}: {msg}" if line else msg for line, msg in errors]
        self.area.set_error_lines(frozenset(line - 1 for line, _ in errors if line > 0))
        box = self.query_one("#editor-errors", Static)
        if errors:
            box.update(Text("\n".join(f"✖ {d}" for d in self.diagnostics[:6]), style="red"))
        else:
            box.update(Text("✔ valid", style="green"))
        self._show_status()
        return self.parsed is not None

    def _show_status(self) -> None:
        what = f"new {self.kind} from file" if self.is_new else f"running {self.kind}"
        name = getattr(self.parsed, "name", None) or (self.target.describe() if self.target else "-")
        text = Text.assemble((f" {what} ", "bold reverse"), f" {name}  ")
        if self.serving_note and not self.is_new:
            text.append(f"{self.serving_note}  ", style="bold yellow")
        text.append("ctrl+s apply · ctrl+o open file · ctrl+r revert", style="dim")
        self.query_one("#editor-status", Static).update(text)

    # --- actions ------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "toggle_notes":
            return bool(self.query_one(RolloutPanel).notes)  # shown in the footer only when there are notes
        return super().check_action(action, parameters)

    def action_toggle_notes(self) -> None:
        self.query_one(RolloutPanel).toggle_notes()

    def action_revert(self) -> None:
        self.is_new = False
        self._reload()

    def action_open_file(self) -> None:
        def done(value: str | None) -> None:
            if value:
                self.open_file(Path(value).expanduser())

        self.app.push_screen(
            PromptScreen(
                "Open a YAML file to create an endpoint or deployment", placeholder="path/to/spec.yml"
            ),
            done,
        )

    def open_file(self, path: Path) -> None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            self.notify(f"cannot open {path}: {exc.strerror or exc}", severity="error")
            return
        self.is_new = True
        self.kind = guess_kind(text)
        self.base_dir = path.resolve().parent
        self.running_yaml, self.running_spec = "", None
        self._set_text(text)

    def action_apply(self) -> None:
        from endpointctl.core.spec import DeploymentSpec, dump_yaml

        if not self.validate() or self.parsed is None:
            self.notify(f"cannot apply: {len(self.diagnostics)} problem(s) in the YAML", severity="error")
            return
        if not self.ctx.ready:
            self.notify("still opening the backends: apply again in a moment", severity="warning")
            return
        spec = self.parsed
        backend = self.target.backend if self.target is not None else self.service.default_backend
        reason = (
            self.caps.why_not(Capability.DEPLOYMENTS) if self.caps and self.kind == "deployment" else None
        )
        if reason is not None:
            self.notify(f"{backend}: {reason}", severity="error")
            return
        if not self.is_new and dump_yaml(spec) == self.running_yaml:
            self.notify("nothing to apply: this is the running spec")
            return
        title = f"Apply {self.kind} {spec.name} on {backend}?"
        summary = ""
        if isinstance(spec, DeploymentSpec):
            from endpointctl.core.rollout import describe_update

            running = self.running_spec if isinstance(self.running_spec, DeploymentSpec) else None
            if running is not None and (running.name, running.endpoint_name) != (
                spec.name,
                spec.endpoint_name,
            ):
                running = None  # renamed in the editor: applying creates another deployment
            summary = describe_update(running, spec)

        def confirmed(ok: bool | None) -> None:
            if ok:
                self._apply(spec, backend)

        self.app.push_screen(
            DiffScreen(title, self.running_yaml, dump_yaml(spec), name=spec.name, summary=summary),
            confirmed,
        )

    @work(exit_on_error=False, exclusive=True, group="apply")
    async def _apply(self, spec: EndpointSpec | DeploymentSpec, backend: str) -> None:
        from endpointctl.core.spec import DeploymentSpec, dump_yaml

        panel = self.query_one(RolloutPanel)
        svc = self.service
        tracker = self.ctx.model.rollouts
        key = (backend, spec.endpoint_name, spec.name) if isinstance(spec, DeploymentSpec) else None
        self.rollout_key = key
        panel.start(key, f"⟳ applying {self.kind} {spec.name} on {backend}")

        def progress(view: DeploymentView) -> None:
            timeline = tracker.observe(view, self.ctx.clock())
            if self.rollout_key == key:
                panel.show(timeline or (tracker.timeline(key) if key else None))

        try:
            if isinstance(spec, DeploymentSpec):
                follower: asyncio.Task[None] | None = None
                if self.caps is not None and Capability.EVENTS in self.caps:
                    events = await svc.events(spec.endpoint_name, backend=backend)
                    after = max((e.id for e in events), default=0)
                    follower = asyncio.create_task(
                        self._follow_events(spec.endpoint_name, spec.name, backend, after)
                    )
                try:
                    view: DeploymentView = await svc.apply_deployment(
                        spec, backend=backend, progress=progress
                    )
                finally:
                    if follower is not None:
                        follower.cancel()
                progress(view)
                if self.rollout_key == key:
                    panel.finish(True, f"✔ {spec.endpoint_name}/{spec.name} rolled out (rev {view.revision})")
            elif self.is_new:
                await svc.create_endpoint(spec, backend=backend)
                panel.finish(True, f"✔ endpoint {spec.name} created")
            else:
                await svc.update_endpoint(spec, backend=backend)
                panel.finish(True, f"✔ endpoint {spec.name} updated")
        except Exception as exc:
            if self.rollout_key == key:
                panel.finish(False, str(exc))
            self.notify(f"apply failed: {exc}", severity="error", timeout=8)
            return
        finally:
            self.ctx.model.wake()  # the navigator and the other panes see the result now, not at the next tick
        self.is_new = False
        self.running_yaml, self.running_spec = dump_yaml(spec), spec
        self.notify(f"{self.kind} {spec.name} applied")

    async def _follow_events(self, endpoint: str, deployment: str, backend: str, after: int) -> None:
        panel = self.query_one(RolloutPanel)
        key = (backend, endpoint, deployment)
        while True:
            try:
                for event in await self.service.events(endpoint, after_id=after, backend=backend):
                    after = max(after, event.id)
                    if panel.key == key:
                        panel.event(event)
            except Exception:
                return  # events are a nicety here; apply itself reports the outcome
            await asyncio.sleep(0.5)
