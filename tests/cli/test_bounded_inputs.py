"""The CLI's inputs are bounded and checked before anything is sent or changed: each case exits 2 with a message
naming the file (and line, column or field), quickly, whatever the input's size."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from endpointctl.cli.commands import MAX_SHOWN_DIAGNOSTICS
from endpointctl.core.home import Home
from endpointctl.core.spec.source import MAX_SPEC_BYTES, MAX_SPEC_DEPTH, MAX_SPEC_NODES
from tests.conftest import SAMPLES, Run

SAMPLE = SAMPLES / "managed" / "sample"
ENDPOINTCTL = Path(sys.executable).with_name("endpointctl")
# Not a timing assertion (bench/cli_inputs measures those): a CLI that read /dev/zero to the end or expanded an
# alias bomb would never finish, and this turns that into a failure instead of a hung or swapping test run.
RUNAWAY_S = 120

ALIAS_BOMB = "name: bomb\na: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)


def endpointctl(home: Home, *args: str) -> subprocess.CompletedProcess[str]:
    """The console script, as a user runs it."""
    env = {**os.environ, "ENDPOINTCTL_HOME": str(home.root)}
    return subprocess.run(
        [str(ENDPOINTCTL), *args], capture_output=True, text=True, env=env, timeout=RUNAWAY_S, check=False
    )


def test_a_malformed_request_file_is_refused_locally_with_its_line_and_column(
    home: Home, tmp_path: Path
) -> None:
    bad = tmp_path / "request.json"
    bad.write_text('{"data": [1, 2,\n  3,, 4]}')
    done = endpointctl(home, "online-endpoint", "invoke", "-n", "my-endpoint", "--request-file", str(bad))
    assert done.returncode == 2, done.stderr
    assert f"--request-file {bad}:2:5: not valid JSON" in done.stderr
    assert "does not exist" not in done.stderr  # refused before any endpoint was looked up


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("online-endpoint", "invoke", "-n", "my-endpoint", "--request-file", "/dev/zero"),
            "larger than 32 MiB",
        ),
        (("online-endpoint", "show", "-f", "/dev/zero"), f"larger than {MAX_SPEC_BYTES // 1024} KiB"),
    ],
    ids=["request-file", "spec"],
)
def test_dev_zero_is_refused_without_being_read(home: Home, args: tuple[str, ...], message: str) -> None:
    done = endpointctl(home, *args)
    assert done.returncode == 2 and "/dev/zero" in done.stderr and message in done.stderr, done.stderr


def test_a_yaml_alias_bomb_is_refused(home: Home, tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yml"
    bomb.write_text(ALIAS_BOMB)
    done = endpointctl(home, "online-endpoint", "show", "-f", str(bomb))
    # Refused before anything is expanded, at the first value whose expansion is over the bound (`f`, 9**6).
    assert done.returncode == 2 and f"ERROR: {bomb}:7:4: more than {MAX_SPEC_NODES} values" in done.stderr
    assert "once aliases are expanded" in done.stderr


def test_an_alias_inside_itself_is_refused(cli: Run, tmp_path: Path) -> None:
    spec = tmp_path / "endpoint.yml"
    spec.write_text("name: my-endpoint\ntags: &a [1, *a]\n")  # it crashed with a RecursionError traceback
    done = cli("online-endpoint", "show", "-f", str(spec))
    assert done.code == 2 and f"{spec}:2:7: more than {MAX_SPEC_NODES} values once aliases" in done.err


@pytest.mark.parametrize("levels", [MAX_SPEC_DEPTH + 1, 999, 3000])
def test_deep_nesting_is_refused(cli: Run, tmp_path: Path, levels: int) -> None:
    spec = tmp_path / "endpoint.yml"
    spec.write_text("name: my-endpoint\ntags: " + "[" * levels + "]" * levels + "\n")
    done = cli("online-endpoint", "show", "-f", str(spec))
    assert done.code == 2 and f"{spec}:2:" in done.err, done.err
    assert f"nested deeper than {MAX_SPEC_DEPTH} levels" in done.err or "maximum nesting depth" in done.err


@pytest.mark.parametrize("name", ["../etc", "a/b", "x", "has space"])
def test_names_no_endpoint_can_have_are_bad_usage(cli: Run, name: str) -> None:
    done = cli("online-endpoint", "show", "-n", name)
    assert done.code == 2 and "not an endpoint or deployment name" in done.err, done.err
    listed = cli("online-deployment", "list", "-e", name)
    assert listed.code == 2 and "-e/--endpoint-name" in listed.err


def test_a_pinned_deployment_or_rollout_candidate_with_a_path_in_it_is_bad_usage(home: Home) -> None:
    invoked = endpointctl(home, "online-endpoint", "invoke", "-n", "my-endpoint", "-d", "../blue",
                          "--request-file", str(SAMPLES / "model-1" / "sample-request.json"))  # fmt: skip
    assert invoked.returncode == 2, invoked.stderr
    assert "-d/--deployment-name '../blue': not an endpoint or deployment name" in invoked.stderr
    started = endpointctl(home, "rollout", "start", "-e", "my-endpoint", "--to", "a/b")
    assert started.returncode == 2 and "--to 'a/b': not an endpoint or deployment name" in started.stderr


def test_spec_file_bounds_are_in_the_help(home: Home) -> None:
    done = endpointctl(home, "online-deployment", "show", "--help")
    assert done.returncode == 0, done.stderr
    assert f"at most {MAX_SPEC_BYTES // 1024} KiB and {MAX_SPEC_NODES:,} values" in " ".join(
        done.stdout.split()
    )


def test_environment_variable_names_are_checked_with_file_and_line(cli: Run, tmp_path: Path) -> None:
    spec = tmp_path / "blue.yml"
    text = (SAMPLE / "blue-deployment.yml").read_text()
    spec.write_text(text + 'environment_variables:\n  OK_1: a\n  "2BAD": b\n')
    done = cli("online-deployment", "show", "-f", str(spec), "--set", f"model.path={SAMPLES / 'model-1' / 'model'}",
               "--set", f"code_configuration.code={SAMPLES / 'model-1' / 'onlinescoring'}",
               "--set", f"environment.conda_file={SAMPLES / 'model-1' / 'environment' / 'conda.yaml'}")  # fmt: skip
    assert done.code == 2
    line = text.count("\n") + 1
    assert f"{spec}:{line}:" in done.err and "'2BAD' is not an environment variable name" in done.err


def test_table_output_to_a_pipe_keeps_whole_values(home: Home) -> None:
    done = endpointctl(
        home, "online-deployment", "show", "-f", str(SAMPLE / "blue-deployment.yml"), "-o", "table"
    )
    assert done.returncode == 0, done.stderr
    assert "…" not in done.stdout
    # The longest value (the schema URL) is whole: at rich's default 80 columns it was cut with "…".
    assert "https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json" in done.stdout
    assert all(line == line.rstrip() for line in done.stdout.splitlines())


def test_a_file_with_thousands_of_problems_shows_the_first_ones(home: Home, tmp_path: Path) -> None:
    spec = tmp_path / "endpoint.yml"
    spec.write_text("name: my-endpoint\n" + "".join(f"unknown_{i:05}: x\n" for i in range(5000)))
    done = endpointctl(home, "online-endpoint", "show", "-f", str(spec))
    assert done.returncode == 2
    errors = done.stderr.splitlines()
    assert errors[0].startswith(f"ERROR: {spec}:2:1: unknown_00000:"), errors[0]
    assert len(errors) == MAX_SHOWN_DIAGNOSTICS + 1
    assert errors[-1] == f"ERROR: … and {5000 - MAX_SHOWN_DIAGNOSTICS} more problem(s) in {spec}"
