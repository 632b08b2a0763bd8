"""`python -m tests.tui.fake_app`: the TUI on ENDPOINTCTL_HOME, seeded with the sample endpoint on the test backend.

The tmux end-to-end test runs this in a real terminal. Switching it to the real process backend means running
`python -m endpointctl.tui` instead, once that backend ships with the sample.
"""

from __future__ import annotations

import asyncio

from endpointctl.core.home import Home
from tests.tui.conftest import make_app, seed


def main() -> None:
    home = Home.discover().ensure()
    asyncio.run(seed(home))
    make_app(home, poll_s=1.0).run()


if __name__ == "__main__":
    main()
