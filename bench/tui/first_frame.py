"""Child process for the cold-start benchmark: run the TUI headless and write the wall time of its first frame.

It pays what the bare `endpointctl` command does before its first frame: the console script's module
(`endpointctl.cli`, whose `main()` sees no arguments and starts the TUI), then the app as `endpointctl.tui.run` makes
it (`make_app`, installed backends discovered once the frame is up), on an empty data directory. `main()` itself is
not called: it opens the TUI only on a terminal.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import endpointctl.cli  # noqa: F401  (imported by the console script before it sees no arguments)
from endpointctl.core.home import Home
from endpointctl.tui import make_app


def main() -> None:
    out, home = Path(sys.argv[1]), Home(Path(sys.argv[2])).ensure()
    app = make_app(home)

    def first_frame() -> None:
        out.write_text(repr(time.time()))
        app.exit()

    app.call_after_refresh(lambda: app.screen.call_after_refresh(first_frame))
    app.run(headless=True, size=(80, 24))


if __name__ == "__main__":
    main()
