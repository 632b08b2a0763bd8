"""Writes this benchmark's part of bench/RESULTS.md without touching the other sections (other benchmarks')."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

SECTION = "## Gateway"
INTRO = (
    "Same upstream hit directly and through `python -m endpointctl.serving.gateway` (uvloop, key auth on, two "
    "deployments 90/10 both pointing at that upstream), `wrk` at concurrency 16. Rounds alternate direct/gateway; ratio and added latency are medians of back-to-back pairs. "
    "Targets: throughput ratio >= 85%, added p50 <= 0.3 ms, added p99 <= 1.5 ms. CI needs the Debian package `wrk`."
)


def _split_sections(text: str) -> list[str]:
    """Top-level ``## `` sections, each with its heading; the part before the first one comes first."""
    return re.split(r"(?m)^(?=## )", text)


def write_section(
    path: Path,
    *,
    upstream_kind: str,
    upstream_desc: str,
    machine: str,
    invocation: str,
    wrk_command: str,
    rounds: int,
    table: str,
) -> None:
    text = path.read_text() if path.exists() else "# Benchmark results\n\n"
    parts = _split_sections(text)
    index = next((i for i, part in enumerate(parts) if part.startswith(SECTION + "\n")), None)
    existing = parts[index] if index is not None else ""
    # One ### subsection per upstream kind, so a run with one upstream keeps the other's numbers; other ###
    # subsections (hand-written notes) are kept as they are, after the numbers.
    subsections = {
        m.group(1): m.group(0).rstrip() + "\n"
        for m in re.finditer(r"(?ms)^### ([^\n]+)\n.*?(?=^### |\Z)", existing)
    }
    subsections[f"Upstream: {upstream_kind}"] = (
        f"### Upstream: {upstream_kind}\n\n"
        f"- date: {dt.date.today().isoformat()}\n"
        f"- command: `{invocation}`\n"
        f"- load generator: `{wrk_command}` ({rounds} rounds each)\n"
        f"- upstream: {upstream_desc}\n"
        f"- machine: {machine}\n\n"
        f"{table}\n"
    )
    order = sorted(subsections, key=lambda k: (not k.startswith("Upstream: "), k))
    body = "\n".join(subsections[k] for k in order)
    section = f"{SECTION}\n\n{INTRO}\n\n{body}\n"
    if index is None:
        parts.append(("\n" if parts and not parts[-1].endswith("\n\n") else "") + section)
    else:
        parts[index] = section
    path.write_text("".join(parts))
