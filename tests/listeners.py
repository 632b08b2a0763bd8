"""Which processes listen on TCP: read from /proc, so a test can prove an instance has no port at all."""

from __future__ import annotations

from pathlib import Path

LISTEN = "0A"


def descendants(pid: int) -> set[int]:
    """`pid` and every process below it (workers forked by a scoring host, say)."""
    found = {pid}
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


def tcp_listeners(pids: set[int]) -> list[str]:
    """Listening TCP sockets (IPv4 and IPv6, as 'address:port' in /proc's hex) held by any of `pids`."""
    inodes: set[str] = set()
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = str(fd.readlink())
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == LISTEN and fields[9] in inodes:
                found.append(fields[1])
    return found
