"""Shell completion, in a real bash with the script `endpointctl completion bash` prints: verbs, flags, and
endpoint and deployment names from the state store (nothing started, nothing created)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from endpointctl.backends.local.lock import lock_holder
from endpointctl.backends.process.layout import Layout
from endpointctl.core.home import Home
from endpointctl.core.spec import load_deployment, load_endpoint
from endpointctl.core.store import DeploymentRecord, EndpointRecord, Store
from tests.conftest import SAMPLES

SAMPLE = SAMPLES / "managed" / "sample"
BIN = Path(sys.executable).parent


def _seed(home: Home) -> None:
    """Endpoints and deployments as the store holds them (written directly: no agent needed to complete)."""
    store = Store(home.ensure().database)
    now = time.time()
    endpoint = load_endpoint(SAMPLE / "endpoint.yml")
    blue = load_deployment(SAMPLE / "blue-deployment.yml")
    with store.transaction() as tx:
        for name in ("my-endpoint", "my-other", "fraud-scorer"):
            tx.put_endpoint(
                EndpointRecord(
                    "process", name, endpoint.model_copy(update={"name": name}), "Succeeded", None, now, now
                )
            )
        for name in ("blue", "green"):
            spec = blue.model_copy(update={"name": name})
            tx.put_deployment(
                DeploymentRecord("process", "my-endpoint", name, spec, "Succeeded", 1, now, now)
            )
        tx.put_endpoint(EndpointRecord("docker", "in-docker", endpoint.model_copy(update={"name": "in-docker"}), "Succeeded", None, now, now))  # fmt: skip
    store.close()


def complete(home: Home, line: str) -> list[str]:
    """What bash offers for `line` + TAB, through the generated script and its completion function."""
    script = subprocess.run(
        [str(BIN / "endpointctl"), "completion", "bash"], capture_output=True, text=True, check=True
    ).stdout
    words = shlex.split(line) + ([""] if line.endswith(" ") else [])
    program = f"""
{script}
COMP_LINE={shlex.quote(line)}
COMP_POINT=${{#COMP_LINE}}
COMP_WORDS=({" ".join(shlex.quote(w) for w in words)})
COMP_CWORD={len(words) - 1}
_python_argcomplete endpointctl
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "ENDPOINTCTL_HOME": str(home.root)}
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return sorted(w.strip() for w in done.stdout.splitlines() if w.strip())


@pytest.fixture
def seeded(home: Home) -> Home:
    _seed(home)
    return home


def test_verbs_and_flags_complete(seeded: Home) -> None:
    assert "online-endpoint" in complete(seeded, "endpointctl onl")
    assert complete(seeded, "endpointctl online-endpoint sh") == ["show"]
    assert "--request-file" in complete(seeded, "endpointctl online-endpoint invoke --req")
    assert complete(seeded, "endpointctl rollout start --mirror") == ["--mirror-first"]


def test_names_complete_from_the_store_without_starting_anything(seeded: Home) -> None:
    assert complete(seeded, "endpointctl online-endpoint show -n my-") == ["my-endpoint", "my-other"]
    assert complete(seeded, "endpointctl online-deployment show -e my-endpoint -n ") == ["blue", "green"]
    assert complete(seeded, "endpointctl online-deployment list -e fr") == ["fraud-scorer"]
    assert complete(seeded, "endpointctl rollout status -e my-e") == ["my-endpoint"]
    # The deployment a request is pinned to (of -n's endpoint) and a rollout's candidate (of -e's).
    assert complete(seeded, "endpointctl online-endpoint invoke -n my-endpoint -d g") == ["green"]
    assert complete(seeded, "endpointctl rollout start -e my-endpoint --to ") == ["blue", "green"]
    # Another backend's endpoints, for --backend docker.
    assert complete(seeded, "endpointctl online-endpoint show --backend docker -n ") == ["in-docker"]
    assert lock_holder(Layout(seeded)) is None, "completion started an agent"


def test_no_data_directory_completes_nothing_and_creates_nothing(home: Home) -> None:
    assert complete(home, "endpointctl online-endpoint show -n ") == []
    assert not home.database.exists()


# zsh: the script's own function runs in a real zsh; only `_describe` (which draws the menu at a prompt) is
# replaced by one that prints the candidates it is given, "word:description".
ZSH_PROGRAM = """
autoload -U compinit; compinit -u -D
source {script}
_describe() {{ print -rl -- "${{(@P)2}}"; }}
BUFFER={line}; CURSOR=${{#BUFFER}}; words=(${{(z)BUFFER}})
_python_argcomplete
"""
# fish: `complete -C LINE` prints what fish would offer at the prompt, "word<TAB>description".
FISH_PROGRAM = "source {script}; complete -C {line}"


def complete_in(shell: str, home: Home, line: str, tmp_path: Path) -> list[str]:
    """What zsh or fish offers for `line` + TAB, through the script `endpointctl completion SHELL` prints."""
    script = tmp_path / f"endpointctl.{shell}"
    script.write_text(
        subprocess.run(
            [str(BIN / "endpointctl"), "completion", shell], capture_output=True, text=True, check=True
        ).stdout
    )
    template, argv = (ZSH_PROGRAM, ["zsh", "-f", "-c"]) if shell == "zsh" else (FISH_PROGRAM, ["fish", "-c"])
    program = template.format(script=shlex.quote(str(script)), line=shlex.quote(line))
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "ENDPOINTCTL_HOME": str(home.root)}
    done = subprocess.run([*argv, program], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    separator = ":" if shell == "zsh" else "\t"
    return sorted(w.split(separator, 1)[0] for w in done.stdout.splitlines() if w.strip())


@pytest.mark.parametrize(
    "shell",
    [pytest.param(s, marks=pytest.mark.skipif(shutil.which(s) is None, reason=f"{s} not installed")) for s in ("zsh", "fish")],
)  # fmt: skip
def test_zsh_and_fish_complete_verbs_flags_and_names(shell: str, seeded: Home, tmp_path: Path) -> None:
    assert complete_in(shell, seeded, "endpointctl online-endpoint sh", tmp_path) == ["show"]
    assert "--request-file" in complete_in(
        shell, seeded, "endpointctl online-endpoint invoke --req", tmp_path
    )
    assert complete_in(shell, seeded, "endpointctl online-endpoint show -n my-", tmp_path) == [
        "my-endpoint",
        "my-other",
    ]
    assert complete_in(shell, seeded, "endpointctl online-deployment show -e my-endpoint -n ", tmp_path) == [
        "blue",
        "green",
    ]


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_the_other_shells_get_a_script_of_their_own(shell: str) -> None:
    done = subprocess.run(
        [str(BIN / "endpointctl"), "completion", shell], capture_output=True, text=True, check=True
    )
    assert "endpointctl" in done.stdout and "_ARGCOMPLETE" in done.stdout
