"""A real headless Chromium driven over the Chrome DevTools Protocol (CDP), with aiohttp's websocket client only.

`Browser` starts `chromium --headless=new --remote-debugging-port=0`, reads the port Chromium chose from
`<user-data-dir>/DevToolsActivePort` and attaches to its page; `Page` sends CDP commands (`Page.navigate`,
`Runtime.evaluate`, `Input.dispatchKeyEvent`, `Page.captureScreenshot`) and waits for their replies.

textual-serve draws with xterm.js on a WebGL/canvas renderer, so the terminal's text is not in the DOM. To read
what the user sees, `TERMINAL_HOOK` runs before the page's own scripts and keeps a reference to the xterm.js
`Terminal` the page creates (textual.js assigns it to `this.terminal`); `Page.screen_text()` then reads the lines
of its active buffer, the same cells the renderer paints.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import aiohttp

STARTUP_S = 30.0
REPLY_S = 10.0
SCREEN_S = 30.0

# Kept from before the page's scripts run: the first object assigned to a `terminal` property that looks like an
# xterm.js Terminal (it has a buffer and an onData event) is stored on window.__endpointctlTerminal.
TERMINAL_HOOK = """
(() => {
  Object.defineProperty(Object.prototype, "terminal", {
    configurable: true,
    set(value) {
      Object.defineProperty(this, "terminal", {value, writable: true, configurable: true, enumerable: true});
      if (value && typeof value.onData === "function" && value.buffer && !window.__endpointctlTerminal) {
        window.__endpointctlTerminal = value;
      }
    },
  });
})();
"""

SCREEN_TEXT = """
(() => {
  const term = window.__endpointctlTerminal;
  if (!term) return null;
  const buffer = term.buffer.active;
  const lines = [];
  for (let y = 0; y < term.rows; y++) {
    const line = buffer.getLine(buffer.viewportY + y);
    lines.push(line ? line.translateToString(true) : "");
  }
  return lines.join("\\n");
})()
"""


class CdpError(RuntimeError):
    pass


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


class Page:
    """One page target: CDP commands over its websocket, replies matched by id (events are dropped)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for message in self._ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(message.data)
                future = self._pending.pop(data.get("id", -1), None)
                if future is None or future.done():
                    continue
                if "error" in data:
                    future.set_exception(CdpError(f"{data['error']}"))
                else:
                    future.set_result(data.get("result", {}))
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(CdpError("the DevTools websocket closed"))

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        await self._ws.send_str(json.dumps({"id": call_id, "method": method, "params": params}))
        async with asyncio.timeout(REPLY_S):
            return await future

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise CdpError(f"{expression!r} raised {result['exceptionDetails']}")
        return result["result"].get("value")

    async def open(self, url: str) -> None:
        """Navigate to `url` with the terminal hook installed before the page's scripts."""
        await self.send("Page.enable")
        await self.send("Page.addScriptToEvaluateOnNewDocument", source=TERMINAL_HOOK)
        reply = await self.send("Page.navigate", url=url)
        if reply.get("errorText"):
            raise CdpError(f"navigating to {url}: {reply['errorText']}")

    async def screen_text(self) -> str:
        """The terminal's visible lines, as xterm.js holds them ("" before the terminal exists)."""
        return await self.evaluate(SCREEN_TEXT) or ""

    async def wait_for_screen(
        self, done: Callable[[str], bool], what: str, within_s: float = SCREEN_S
    ) -> str:
        """Polls the terminal's text until `done(text)`; the last screen is in the error if it never is."""
        deadline = time.monotonic() + within_s
        while True:
            screen = await self.screen_text()
            if done(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} never happened in the browser; the terminal showed:\n{screen}")
            await asyncio.sleep(0.2)

    async def wait_for_text(self, text: str, within_s: float = SCREEN_S) -> str:
        return await self.wait_for_screen(lambda screen: text in screen, f"{text!r} appearing", within_s)

    async def focus_terminal(self) -> None:
        """What clicking into the page does: keyboard input goes to the terminal."""
        await self.evaluate("window.__endpointctlTerminal.focus()")

    async def press(self, key: str) -> None:
        """Type one printable character as a keyboard would (keydown with its text, then keyup)."""
        await self.send("Input.dispatchKeyEvent", type="keyDown", key=key, text=key, unmodifiedText=key)
        await self.send("Input.dispatchKeyEvent", type="keyUp", key=key)

    async def screenshot(self, path: Path) -> bytes:
        reply = await self.send("Page.captureScreenshot", format="png")
        png = base64.b64decode(reply["data"])
        await asyncio.to_thread(path.write_bytes, png)
        return png

    async def close(self) -> None:
        self._reader.cancel()
        await self._ws.close()


class Browser:
    """`async with Browser(chromium, user_data_dir) as page:` a headless Chromium on about:blank, closed afterwards."""

    def __init__(self, executable: str, user_data_dir: Path, width: int = 1280, height: int = 800) -> None:
        self.executable = executable
        self.user_data_dir = user_data_dir
        self.size = (width, height)
        self._process: asyncio.subprocess.Process | None = None
        self._log: BinaryIO | None = None
        self._session: aiohttp.ClientSession | None = None
        self._page: Page | None = None

    async def __aenter__(self) -> Page:
        self.user_data_dir.mkdir(parents=True, exist_ok=True)
        width, height = self.size
        self._log = (self.user_data_dir / "chromium.log").open("wb")
        self._process = await asyncio.create_subprocess_exec(
            self.executable,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            f"--window-size={width},{height}",
            "--remote-debugging-port=0",
            f"--user-data-dir={self.user_data_dir}",
            "about:blank",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=self._log,
            start_new_session=True,  # its renderer/GPU/zygote children go with it in __aexit__
        )
        try:
            port = await self._devtools_port()
            self._session = aiohttp.ClientSession()
            page_ws_url = await self._page_target(port)
            ws = await self._session.ws_connect(page_ws_url, max_msg_size=0)
            self._page = Page(ws)
            return self._page
        except BaseException:
            await self.__aexit__(None, None, None)
            raise

    async def _devtools_port(self) -> int:
        assert self._process is not None
        active = self.user_data_dir / "DevToolsActivePort"
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline:
            if self._process.returncode is not None:
                log = (self.user_data_dir / "chromium.log").read_text(errors="replace")
                raise CdpError(f"chromium exited with {self._process.returncode}:\n{log}")
            try:
                first = active.read_text().splitlines()[0]
                return int(first)
            except (OSError, IndexError, ValueError):
                await asyncio.sleep(0.1)
        raise CdpError(f"chromium wrote no {active} within {STARTUP_S:.0f} s")

    async def _page_target(self, port: int) -> str:
        assert self._session is not None
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline:
            async with self._session.get(f"http://127.0.0.1:{port}/json/list") as response:
                targets = await response.json()
            for target in targets:
                if target.get("type") == "page" and "webSocketDebuggerUrl" in target:
                    return str(target["webSocketDebuggerUrl"])
            await asyncio.sleep(0.1)
        raise CdpError("chromium opened no page")

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._page is not None:
            await self._page.close()
        if self._session is not None:
            await self._session.close()
        if self._process is not None and self._process.returncode is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                async with asyncio.timeout(STARTUP_S):
                    await self._process.wait()
            except TimeoutError:
                os.killpg(self._process.pid, signal.SIGKILL)
                await self._process.wait()
        if self._log is not None:
            self._log.close()
