"""`endpointctl web` as a user runs it: the real command, a real browser (headless Chromium over CDP), Ctrl+C.

It also refuses a non-loopback bind without an explicit flag and runs each session's TUI on the same home.
Needs `chromium` (apt-get install -y chromium); CI installs it, and a missing browser fails here, it never skips.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from endpointctl.core.errors import InvalidInput
from endpointctl.core.home import HOME_ENV, Home
from endpointctl.tui.web import command_for, is_loopback, serve
from tests.conftest import REPO
from tests.tui.browser import Browser, find_chromium

START_S = 20.0
STOP_S = 5.0


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("10.1.2.3", False),
        ("jumpbox", False),
    ],
)
def test_loopback_detection(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_public_bind_needs_allow_remote(home: Home) -> None:
    with pytest.raises(InvalidInput, match="no authentication"):
        serve(home, host="0.0.0.0")


def test_each_session_runs_the_tui_on_the_same_home(home: Home) -> None:
    command = command_for(home)
    assert f"ENDPOINTCTL_HOME={home.root} " in command
    assert command.endswith("-m endpointctl.tui")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tuis_on(home: Home) -> list[int]:
    """Pids of TUI processes (the web sessions' children) running on `home`."""
    marker = f"{HOME_ENV}={home.root}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if b"endpointctl.tui" in (entry / "cmdline").read_bytes() and marker in (
                (entry / "environ").read_bytes().split(b"\0")
            ):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


class Web:
    """`endpointctl web --port N` in its own process group, as a terminal would run it."""

    def __init__(self, home: Home, tmp_path: Path) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.out = tmp_path / "web.out"
        self.err = tmp_path / "web.err"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "endpointctl", "web", "--port", str(self.port)],
                cwd=REPO,
                env={**os.environ, HOME_ENV: str(home.root)},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )

    def output(self) -> str:
        return f"stdout:\n{self.out.read_text(errors='replace')}\nstderr:\n{self.err.read_text(errors='replace')}"

    async def wait_listening(self) -> None:
        deadline = time.monotonic() + START_S
        while True:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"endpointctl web exited with {self.process.returncode}:\n{self.output()}"
                )
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"nothing listened on {self.port}:\n{self.output()}") from None
                await asyncio.sleep(0.1)
                continue
            writer.close()
            await writer.wait_closed()
            return

    async def ctrl_c(self) -> int:
        """What Ctrl+C in its terminal does: SIGINT to the foreground process group; its exit status."""
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            return await asyncio.to_thread(self.process.wait, STOP_S)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"endpointctl web still ran {STOP_S:.0f} s after Ctrl+C:\n{self.output()}"
            ) from None

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        for pid in tuis_on(self.home):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def web(home: Home, tmp_path: Path) -> Iterator[Web]:
    server = Web(home, tmp_path)
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.fail("chromium is not installed: apt-get install -y chromium (.ci/run installs it)")
    return path


async def test_the_tui_works_in_a_browser_and_ctrl_c_stops_it(
    web: Web, chromium: str, home: Home, tmp_path: Path
) -> None:
    await web.wait_listening()
    async with Browser(chromium, tmp_path / "chromium") as page:
        await page.open(web.url)
        screen = await page.wait_for_text("▣ process")  # the navigator lists the backends
        assert "? Help" in screen and "Keys (esc to close)" not in screen
        assert len(tuis_on(home)) == 1  # one browser session, one TUI on the same home

        await page.focus_terminal()
        await page.press("?")
        screen = await page.wait_for_text("Keys (esc to close)")
        assert "Filter endpoints and deployments by name" in screen

        png = await page.screenshot(tmp_path / "help.png")
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
        assert width >= 800 and height >= 600, (width, height)
        assert len(png) > 20_000, "the screenshot is (nearly) blank"

        await page.press("?")  # ? closes help too
        screen = await page.wait_for_screen(lambda s: "Keys (esc to close)" not in s, "help closing")
        assert "▣ process" in screen

        # Ctrl+C with the browser still attached: a clean, quick stop, the page told, no TUI left behind.
        code = await web.ctrl_c()
        assert code in (0, 130), web.output()
        assert "Traceback" not in web.output()
        assert "Session ended." in await page.evaluate("document.body.innerText")
    assert tuis_on(home) == []


def test_a_busy_port_is_an_error_not_a_traceback(home: Home, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "endpointctl", "web", "--port", str(port)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1, result
    assert f"cannot serve on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
