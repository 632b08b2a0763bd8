"""`endpointctl rollout start|status|pause|resume|promote|abort`: progressive delivery judged by the gateway.

The rollout runs in the backend's driver (the local agent; a controller in the cluster on Kubernetes), not in
this process: `start` returns at once with `--no-wait`, or follows with a live status line and exits 0 when
the candidate is promoted, 1 when a gate rolled it back (the gate and its measured value in the message) or it
was aborted.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from endpointctl.cli.common import CliContext, add_backend_arg, add_output_args, backend_of
from endpointctl.core.errors import InvalidInput, OperationFailed
from endpointctl.core.progressive.gates import Gates
from endpointctl.core.progressive.machine import Phase, RolloutState
from endpointctl.core.progressive.plan import DEFAULT_STEP_SECONDS, DEFAULT_STEPS, parse_steps

FOLLOW_EVERY_S = 1.0
DEFAULTS = Gates()

START_HELP = f"""\
Moves traffic from --from (default: the deployment with the most traffic) to --to in --steps. Each step lasts
at least --step-seconds and passes only when the candidate served --min-requests in it with an error rate
(5xx, 408, 424) of at most --max-error-rate %% and a p99 of at most --max-p99-ratio × the baseline's (plus
{DEFAULTS.p99_slack_ms:g} ms slack, so noise at idle does not fail it). A failed gate restores the split the
endpoint had at the start, at once. Both deployments must be Succeeded; the steps must rise to 100. On the
process and Docker backends the rollout runs in the local agent: it goes on when this command exits, and
`rollout status` shows it. On Kubernetes it runs in a controller Deployment this command applies to the
endpoint's namespace (state in a ConfigMap, so any machine with the kubeconfig sees and steers it). On Azure nothing of endpointctl runs in the cloud: this command, `rollout status`
and the TUI drive the rollout whenever they read it (its state is in the endpoint's tags, so any machine can),
the gates read Azure Monitor (one-minute grain, so use --step-seconds of a few minutes), and a step's window
starts at its first whole minute.
With --mirror-first PCT, a mirror phase comes first: PCT%% of live requests are copied to the candidate and
its answers compared with the live ones (same status, JSON bodies equal within --diff-tolerance); the share
that differs is reported, and with --max-diff-rate it is a gate. `rollout status --show-diffs` shows the last
differing examples (kept in the gateway's memory only). Not on Azure: Azure ML discards mirrored answers."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], *, backends: bool) -> None:
    if not backends:
        return
    group = sub.add_parser(
        "rollout", help="progressive delivery: traffic steps judged by gates, auto rollback"
    )
    verbs = group.add_subparsers(dest="verb", metavar="VERB", required=True)
    start = verbs.add_parser(
        "start", help="start moving traffic to a deployment, step by step", description=START_HELP
    )
    start.add_argument("-e", "--endpoint-name", required=True)
    start.add_argument("--to", required=True, metavar="DEPLOYMENT", help="the candidate deployment")
    start.add_argument(
        "--from", dest="from_", metavar="DEPLOYMENT", help="the baseline (default: most traffic)"
    )
    start.add_argument(
        "--steps",
        type=parse_steps,
        default=list(DEFAULT_STEPS),
        metavar="PCT,PCT,…",
        help=f"the candidate's share at each step, rising to 100 (default: {','.join(map(str, DEFAULT_STEPS))})",
    )
    start.add_argument(
        "--step-seconds", type=float, default=DEFAULT_STEP_SECONDS, help=f"default: {DEFAULT_STEP_SECONDS:g}"
    )
    start.add_argument(
        "--max-error-rate", type=float, default=DEFAULTS.max_error_rate_pct, metavar="PCT",
        help=f"default: {DEFAULTS.max_error_rate_pct:g}",
    )  # fmt: skip
    start.add_argument(
        "--max-p99-ratio", type=float, default=DEFAULTS.max_p99_ratio, metavar="R",
        help=f"default: {DEFAULTS.max_p99_ratio:g}",
    )  # fmt: skip
    start.add_argument(
        "--min-requests", type=int, default=DEFAULTS.min_requests, metavar="N",
        help=f"per step; a step without them waits (default: {DEFAULTS.min_requests})",
    )  # fmt: skip
    start.add_argument(
        "--mirror-first", type=int, default=0, metavar="PCT",
        help="a mirror phase first: copy PCT%% of requests to the candidate and compare its answers (≤ 50; "
        "not on Azure, which discards mirrored answers)",
    )  # fmt: skip
    start.add_argument(
        "--max-diff-rate", type=float, default=None, metavar="PCT",
        help="fail the mirror phase when more mirrored answers differ (default: reported only)",
    )  # fmt: skip
    start.add_argument(
        "--diff-tolerance", type=float, default=DEFAULTS.diff_tolerance, metavar="REL",
        help=f"relative tolerance for numbers in JSON answers (default: {DEFAULTS.diff_tolerance:g})",
    )  # fmt: skip
    start.add_argument("--no-wait", action="store_true", help="return once the first step is applied")
    add_backend_arg(start)
    add_output_args(start)
    start.set_defaults(handler=_start)

    status = verbs.add_parser("status", help="the endpoint's rollout: step, gates, outcome")
    status.add_argument("-e", "--endpoint-name", required=True)
    status.add_argument(
        "--show-diffs", action="store_true", help="the last mirrored answers that differed from the live ones"
    )
    add_backend_arg(status)
    add_output_args(status)
    status.set_defaults(handler=_status)

    for command, text in (
        ("pause", "hold the current step (gates are still measured)"),
        ("resume", "continue a paused rollout"),
        ("promote", "skip the remaining steps: the candidate gets the whole pool now"),
        ("abort", "roll back now: the split the endpoint had at the start"),
    ):
        verb = verbs.add_parser(command, help=text, description=text)
        verb.add_argument("-e", "--endpoint-name", required=True)
        if command in ("promote", "abort"):
            verb.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
        add_backend_arg(verb)
        add_output_args(verb)
        verb.set_defaults(handler=_steer, command=command)


async def _start(args: argparse.Namespace, ctx: CliContext) -> Any:
    gates = Gates(
        max_error_rate_pct=args.max_error_rate,
        max_p99_ratio=args.max_p99_ratio,
        p99_slack_ms=DEFAULTS.p99_slack_ms,
        min_requests=args.min_requests,
        max_diff_rate_pct=args.max_diff_rate,
        diff_tolerance=args.diff_tolerance,
    )
    backend = backend_of(args)
    state = await ctx.service.start_progressive(
        args.endpoint_name,
        to=args.to,
        from_=args.from_,
        steps=args.steps,
        step_seconds=args.step_seconds,
        gates=gates,
        mirror_first=args.mirror_first,
        backend=backend,
    )
    sys.stderr.write(f"{state.plan.describe()}\n")
    if args.no_wait:
        return state_view(state)
    return await _follow(ctx, args.endpoint_name, backend)


async def _follow(ctx: CliContext, endpoint: str, backend: str | None) -> Any:
    live = sys.stderr.isatty()
    last = ""
    while True:
        state = await ctx.service.progressive_status(endpoint, backend=backend)
        line = state.describe(time.time())
        if line != last:
            sys.stderr.write(f"\r\033[K{line}" if live else f"{line}\n")
            sys.stderr.flush()
            last = line
        if state.phase.terminal:
            if live:
                sys.stderr.write("\n")
            if state.phase is not Phase.PROMOTED:
                raise OperationFailed(
                    f"rollout of {state.plan.candidate} on {endpoint}: {state.phase}: {state.reason}"
                )
            return state_view(state)
        await asyncio.sleep(FOLLOW_EVERY_S)


async def _status(args: argparse.Namespace, ctx: CliContext) -> Any:
    backend = backend_of(args)
    state = await ctx.service.progressive_status(args.endpoint_name, backend=backend)
    view = state_view(state)
    if args.show_diffs:
        metrics = await ctx.service.metrics(args.endpoint_name, backend=backend)
        candidate = metrics.deployments.get(state.plan.candidate)
        view["shadow"] = dict(candidate.shadow) if candidate is not None else {}
        view["diffs"] = [
            {
                "requestId": e.request_id,
                "at": e.at,
                "liveStatus": e.live_status,
                "mirrorStatus": e.mirror_status,
                "liveBody": e.live_body,
                "mirrorBody": e.mirror_body,
            }
            for e in (candidate.shadow_examples if candidate is not None else ())
        ]
    return view


async def _steer(args: argparse.Namespace, ctx: CliContext) -> Any:
    command = args.command
    if command in ("promote", "abort") and not args.yes:
        if not sys.stdin.isatty():
            raise InvalidInput(f"rollout {command}: pass -y/--yes to confirm (no terminal to ask on)")
        answer = await asyncio.to_thread(input, f"{command} the rollout on {args.endpoint_name}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            raise InvalidInput(f"rollout {command}: not confirmed; nothing changed")
    state = await ctx.service.steer_progressive(args.endpoint_name, command, backend=backend_of(args))
    return state_view(state)


def state_view(state: RolloutState) -> dict[str, Any]:
    plan = state.plan
    verdict = state.verdict
    return {
        "endpoint": plan.endpoint,
        "candidate": plan.candidate,
        "baseline": plan.baseline,
        "phase": str(state.phase),
        "mirroring": state.mirroring,
        "mirrorFirst": plan.mirror_first,
        "step": state.step + 1,
        "steps": list(plan.steps),
        "stepSeconds": plan.step_seconds,
        "traffic": dict(state.split.weights),
        "mirrorTraffic": dict(state.split.mirror),
        "originalTraffic": dict(plan.original.weights),
        "gates": [
            {"gate": r.gate, "outcome": r.outcome, "value": r.value, "threshold": r.threshold}
            for r in (verdict.results if verdict is not None else ())
        ],
        "reason": state.reason,
        "status": state.describe(time.time()),
        "startedAt": state.started_at,
        "finishedAt": state.finished_at,
    }
