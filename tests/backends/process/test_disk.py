"""Disk does not grow without bound: retired instances' logs are pruned, unused environments collected.

The collection rules are checked on folders laid out as the builder leaves them (fast, exact); the whole path
(`endpointctl gc` → agent → runtime) on a real process-backend deployment with its own environment cache.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from endpointctl.backends.local.disk import RETIRED_REVISIONS_KEPT, prune_retired_logs, retired_logs_beyond
from endpointctl.backends.process.env_gc import LAST_USED, collect_environments
from endpointctl.backends.process.layout import ENV_CACHE_VARIABLE, Layout
from endpointctl.core.home import Home
from tests.conftest import SAMPLES, Run

SAMPLE = SAMPLES / "managed" / "sample"
OLD = time.time() - 3600


def _log(folder: Path, instance: str, age_s: float, *, rotated: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"inference-server.{instance}.log"
    path.write_text(f"{instance}\n")
    os.utime(path, (time.time() - age_s, time.time() - age_s))
    if rotated:
        older = folder / f"{path.name}.1"
        older.write_text("older\n")
        os.utime(older, (time.time() - age_s - 1, time.time() - age_s - 1))
    return path


def test_retired_logs_beyond_the_last_revisions_go_running_ones_stay(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    _log(logs, "blue-live", 500)  # running, and the oldest file: never pruned
    for n in range(10):
        _log(logs, f"blue-r{n}", 10 * (n + 1), rotated=n == 9)  # r0 newest … r9 oldest (+ its .1)
    (logs / "storage-initializer.log").write_text("kept\n")
    keep = RETIRED_REVISIONS_KEPT * 1
    doomed = retired_logs_beyond(logs, {"blue-live"}, keep)
    assert sorted(p.name for p in doomed) == sorted(
        [f"inference-server.blue-r{n}.log" for n in range(keep, 10)] + ["inference-server.blue-r9.log.1"]
    )
    freed = prune_retired_logs(logs, {"blue-live"}, 1)
    assert {Path(i.name).name for i in freed} == {p.name for p in doomed}
    left = sorted(p.name for p in logs.iterdir())
    assert left == sorted(
        ["storage-initializer.log", "inference-server.blue-live.log"]
        + [f"inference-server.blue-r{n}.log" for n in range(keep)]
    )


def _env(cache: Path, key: str, *, size: int, used_ago_s: float) -> Path:
    root = cache / key
    (root / "bin").mkdir(parents=True)
    (root / "lib.bin").write_bytes(b"x" * size)
    marker = root / LAST_USED
    marker.touch()
    os.utime(marker, (time.time() - used_ago_s, time.time() - used_ago_s))
    return root


def test_environments_nothing_needs_are_collected_and_the_rest_say_why(tmp_path: Path) -> None:
    cache = tmp_path / "envs"
    _env(cache, "needed", size=10_000, used_ago_s=7200)
    _env(cache, "recent", size=10_000, used_ago_s=5)
    unused = _env(cache, "unused", size=50_000, used_ago_s=7200)
    running = _env(cache, "running", size=10_000, used_ago_s=7200)
    (cache / ".trash-debris").mkdir()  # a removal interrupted half-way
    (cache / ".building-abc").mkdir()  # a build in progress: not ours to touch
    # A process started from an environment (as the runtime starts scoring hosts: by the venv's path).
    (running / "bin" / "python").symlink_to(sys.executable)
    proc = subprocess.Popen([str(running / "bin" / "python"), "-c", "import time; time.sleep(60)"])
    try:
        cmdline = Path(f"/proc/{proc.pid}/cmdline")
        for _ in range(100):  # up and running from the environment (exec done) before it is looked for
            if cmdline.read_bytes().startswith(str(running).encode()):
                break
            time.sleep(0.05)
        dry_freed, _ = collect_environments(
            cache, {"needed": "my-endpoint/blue rev 3"}, min_idle_s=600, dry_run=True
        )
        assert {i.name for i in dry_freed} == {"unused", ".trash-debris"}
        assert unused.is_dir() and (cache / ".trash-debris").is_dir(), "a dry run removed something"
        freed, kept = collect_environments(cache, {"needed": "my-endpoint/blue rev 3"}, min_idle_s=600)
    finally:
        proc.kill()
        proc.wait()
    assert {i.name for i in freed} == {"unused", ".trash-debris"}
    assert next(i for i in freed if i.name == "unused").size_bytes >= 50_000
    why = {i.name: i.why for i in kept}
    assert why["needed"] == "used by my-endpoint/blue rev 3"
    assert why["running"] == f"a running process uses it (pid {proc.pid})"
    assert why["recent"].startswith("used ") and why["recent"].endswith(" s ago")
    # Build locks stay (empty files): removing one could let two builds of an environment hold different locks.
    left = sorted(p.name for p in cache.iterdir() if p.suffix != ".lock")
    assert left == [".building-abc", "needed", "recent", "running"]


def test_under_a_cap_the_least_recently_used_go_first_and_only_as_many_as_needed(tmp_path: Path) -> None:
    cache = tmp_path / "envs"
    for key, ago in (("a", 9000), ("b", 8000), ("c", 7000)):
        _env(cache, key, size=100_000, used_ago_s=ago)
    freed, kept = collect_environments(cache, {}, min_idle_s=600, max_bytes=250_000)
    assert [i.name for i in freed] == ["a"]  # the oldest one brings the cache under the cap
    assert {i.name for i in kept} == {"b", "c"}
    assert all("under its cap" in i.why for i in kept)


def _tiny_app(root: Path) -> tuple[Path, Path]:
    code = root / "code"
    code.mkdir()
    (code / "score.py").write_text("def init():\n    pass\n\n\ndef run(raw):\n    return raw\n")
    conda = root / "conda.yaml"
    conda.write_text("name: tiny\ndependencies:\n  - pip:\n    - six\n")
    return code, conda


@pytest.mark.slow
def test_gc_through_the_agent_keeps_the_serving_environment_and_prunes_old_logs(
    cli: Run, process_home: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "private-envs"  # its own cache: collecting it cannot slow down other tests
    monkeypatch.setenv(ENV_CACHE_VARIABLE, str(cache))
    code, conda = _tiny_app(tmp_path)
    layout = Layout(process_home)
    assert cli("online-endpoint", "create", "-f", str(SAMPLE / "endpoint.yml")).code == 0
    sets = ["--set", f"code_configuration.code={code}", "--set", f"environment.conda_file={conda}"]
    for n in range(6):  # six revisions: five retired instances' logs
        verb = "create" if n == 0 else "update"
        done = cli(
            "online-deployment", verb, "-f", str(SAMPLE / "blue-deployment.yml"), *sets,
            "--set", f"environment_variables.REV={n}", *(["--all-traffic"] if n == 0 else []),
        )  # fmt: skip
        assert done.code == 0, done.err
    log_dir = layout.log_dir("my-endpoint", "blue")
    instance_logs = sorted(log_dir.glob("inference-server.*.log"))
    # One running + the last RETIRED_REVISIONS_KEPT revisions' worth (instance_count 1): pruned as it rolls.
    assert len(instance_logs) == 1 + RETIRED_REVISIONS_KEPT, [p.name for p in instance_logs]
    # An environment nothing uses any more, old enough to go, and a deleted deployment's log folder.
    stale = _env(cache, "0" * 32, size=1000, used_ago_s=7200)
    orphan = layout.log_dir("my-endpoint", "deleted-long-ago")
    _log(orphan, "deleted-long-ago-1", 7200)
    os.utime(orphan, (OLD, OLD))

    dry = cli("gc", "--dry-run", "-o", "json")
    assert dry.code == 0, dry.err
    assert stale.is_dir() and orphan.is_dir(), "gc --dry-run removed something"
    assert '"dryRun": true' in dry.out and "would free" in dry.out

    done = cli("gc", "-o", "json")
    assert done.code == 0, done.err
    assert not stale.exists() and not orphan.exists()
    serving = [p for p in cache.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert len(serving) == 1, serving  # the serving revision's environment stays …
    assert f'"name": "{serving[0].name}"' in done.out and "used by my-endpoint/blue" in done.out
    request = tmp_path / "request.json"
    request.write_text('{"x": 1}')
    answer = cli("online-endpoint", "invoke", "-n", "my-endpoint", "--request-file", str(request))
    assert answer.code == 0 and "x" in answer.out, answer.err  # … and still serves (score.py echoes)


def test_gc_is_refused_with_the_reason_where_the_backend_keeps_nothing_here(cli: Run) -> None:
    result = cli("gc", "--backend", "azure")
    assert result.code != 0
    assert "nothing is kept on this machine" in result.err


def test_configure_refuses_a_disk_cap_that_is_not_a_positive_number(cli: Run) -> None:
    bad = cli("configure", "--defaults", "disk_cap_gb=lots")
    assert bad.code == 2 and "disk_cap_gb=lots" in bad.err
    assert cli("configure", "--defaults", "disk_cap_gb=20").code == 0
