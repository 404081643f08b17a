#!/usr/bin/env python
"""Instructions per call that costaware and OpenLLMetry add to the raw SDKs, counted by cachegrind.

A check on ``overhead.py`` that machine noise cannot move: wall time on a shared 2-core machine varies by
tens of microseconds between runs, an instruction count by well under 1%. It measures work, not time
(cache misses and memory stalls are not in it), so it complements the wall-time medians, it does not
replace them.

    python bench/instructions.py            # ~10 minutes; needs valgrind (apt install valgrind)
    python bench/instructions.py --parts --cases anthropic   # what each policy adds (policy_parts.py's
                                                             # configurations), in instructions

How: the simulator answers each case once; its exact bytes are then served to the real SDK clients by
an ``httpx`` ``MockTransport`` (the SDKs' documented ``http_client`` hook), so no socket and no other
process is involved and every run does the same work. Each (configuration, case) runs in two fresh
processes under ``valgrind --tool=cachegrind`` with address randomisation off (``setarch -R``), a
fixed ``PYTHONHASHSEED`` and the garbage collector off after warm-up: one makes ``--low`` calls, the
other ``--high``; instructions per call = the difference / (high - low), which removes start-up and
imports. The same OpenTelemetry SDK set-up as ``overhead.py`` (SimpleSpanProcessor into an
InMemorySpanExporter, an InMemoryMetricReader) and the same environment (content capture off,
the anthropic SDK's own tracing off). Runs on the bench venv that ``overhead.py`` creates.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

from overhead import (  # noqa: E402
    ANTHROPIC_MODEL,
    BENCH_ENV,
    CASES,
    DEFAULT_VENV,
    MAX_TOKENS,
    OPENAI_MODEL,
    POLICIES,
    PROMPT,
    TARGET_RATIO,
    _instrument,
    _set_up_providers,
    _with_policies,
    write_results,
)

CONFIGS = ("raw", "costaware", POLICIES, "openllmetry")
DEFAULT_OUTPUT = BENCH / "results" / "instructions.json"


def request_of(case: str) -> tuple[str, dict[str, Any]]:
    """(path under the simulator's base URL for the provider, JSON body) of one call of ``case``."""
    messages = [{"role": "user", "content": PROMPT}]
    if case.startswith("anthropic"):
        body: dict[str, Any] = {"model": ANTHROPIC_MODEL, "max_tokens": MAX_TOKENS, "messages": messages}
        path = "/v1/messages"
    else:
        body = {"model": OPENAI_MODEL, "max_tokens": MAX_TOKENS, "messages": messages}
        path = "/chat/completions"  # the OpenAI base URL ends with /v1
        if case.endswith("stream"):
            body["stream_options"] = {"include_usage": True}
    if case.endswith("stream"):
        body["stream"] = True
    return path, body


def record_answers() -> dict[str, dict[str, str]]:
    """The simulator's answer to each case: status, content type and body (latin-1 text)."""
    sys.path.insert(0, str(REPO / "src"))
    from costaware.sim import Simulator

    answers = {}
    with Simulator() as sim:
        for case in CASES:
            path, body = request_of(case)
            base = sim.anthropic_base_url if case.startswith("anthropic") else sim.openai_base_url
            request = urllib.request.Request(
                base.rstrip("/") + path,
                data=json.dumps(body).encode(),
                headers={"content-type": "application/json", "x-api-key": "x", "authorization": "Bearer x"},
            )
            with urllib.request.urlopen(request, timeout=30) as response:  # loopback only
                answers[case] = {
                    "content_type": response.headers["content-type"],
                    "body": response.read().decode("latin-1"),
                }
    return answers


# ---------------------------------------------------------------------------------------------
# Worker: one process, run under cachegrind
# ---------------------------------------------------------------------------------------------


def worker(spec: dict[str, Any]) -> None:
    import gc

    _set_up_providers()
    config = spec["config"]
    _instrument("costaware" if config == POLICIES else config)
    case, answer = spec["case"], spec["answer"]
    body = answer["body"].encode("latin-1")
    provider = "anthropic" if case.startswith("anthropic") else "openai"
    sdk: Any = __import__(provider)
    httpx: Any = sys.modules[sdk.DefaultHttpxClient.__mro__[1].__module__.split(".")[0]]

    def handler(request: Any) -> Any:
        return httpx.Response(200, content=body, headers={"content-type": answer["content_type"]})

    http_client = sdk.DefaultHttpxClient(transport=httpx.MockTransport(handler))
    client: Any = (sdk.Anthropic if provider == "anthropic" else sdk.OpenAI)(
        base_url="http://127.0.0.1:9/v1" if provider == "openai" else "http://127.0.0.1:9",
        api_key="x",
        max_retries=0,
        http_client=http_client,
    )
    _, kwargs = request_of(case)
    kwargs.pop("stream", None)
    stream = case.endswith("stream")
    method = client.messages.create if provider == "anthropic" else client.chat.completions.create

    def plain() -> int:
        if stream:
            for _ in method(stream=True, **kwargs):
                pass
        else:
            method(**kwargs)
        return 0

    if spec.get("options") is not None:  # a configuration of policy_parts.py
        from policy_parts import configured

        call = configured(plain, spec["options"])
    else:
        call = _with_policies(plain) if config == POLICIES else plain

    for _ in range(spec["warmup"]):
        call()
    gc.collect()
    gc.disable()  # collections fall at different calls in different runs: leave them out of both
    for _ in range(spec["calls"]):
        call()


# ---------------------------------------------------------------------------------------------
# Parent
# ---------------------------------------------------------------------------------------------


def count(python: str, spec: dict[str, Any], env: dict[str, str]) -> int:
    """Instructions of one worker process, as cachegrind counts them."""
    command = [
        "setarch", platform.machine(), "-R",
        "valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
        python, __file__, "--worker", json.dumps(spec),
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600)
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"worker failed ({' '.join(command[:4])} ...):\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def per_call(python: str, spec: dict[str, Any], env: dict[str, str], low: int, high: int) -> float:
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        few, many = pool.map(lambda n: count(python, {**spec, "calls": n}, env), (low, high))
    return (many - few) / (high - low)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="the bench venv of overhead.py")
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--low", type=int, default=20, help="calls in the short run; default 20")
    parser.add_argument("--high", type=int, default=100, help="calls in the long run; default 100")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seed", default="0", help="PYTHONHASHSEED of every worker; default 0")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument(
        "--parts",
        action="store_true",
        help="count policy_parts.py's configurations (plain costaware, the scope, each policy, all) instead",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return 0
    for tool in ("valgrind", "setarch"):
        if shutil.which(tool) is None:
            sys.exit(f"ERROR: {tool} is not installed (Debian: apt install valgrind util-linux)")
    python = args.venv / "bin" / "python"
    if not python.exists():
        sys.exit(f"ERROR: no bench venv at {args.venv}: run `python bench/overhead.py` once to create it")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACELOOP_"))}
    env.update(BENCH_ENV, PYTHONHASHSEED=args.seed, PYTHONPATH=str(REPO / "src"))
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "costaware-bench-pycache")
    answers = record_answers()
    if args.parts:
        return count_parts(args, str(python), env, answers, argv)
    results: dict[str, Any] = {}
    for case in args.cases:
        counts = {}
        for config in CONFIGS:
            spec = {"config": config, "case": case, "answer": answers[case], "warmup": args.warmup}
            counts[config] = per_call(str(python), spec, env, args.low, args.high)
            print(f"{case:17} {config:18} {counts[config]:>12,.0f} instructions per call", flush=True)
        ours, policies = counts["costaware"] - counts["raw"], counts[POLICIES] - counts["raw"]
        theirs = counts["openllmetry"] - counts["raw"]
        results[case] = {
            "instructions_per_call": counts,
            "overhead": {"costaware": ours, POLICIES: policies, "openllmetry": theirs},
            "ratio": ours / theirs,
            "ratio_policies": policies / theirs,
        }
        print(
            f"{case:17} added: costaware {ours:,.0f} ({ours / theirs:.2f}), with policies {policies:,.0f} "
            f"({policies / theirs:.2f}), OpenLLMetry {theirs:,.0f}"
        )
    print()
    print("| case | raw | costaware adds | with policies adds | OpenLLMetry adds | ratios |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for case, result in results.items():
        counts, added = result["instructions_per_call"], result["overhead"]
        print(
            f"| {case} | {counts['raw']:,.0f} | +{added['costaware']:,.0f} | +{added[POLICIES]:,.0f} | "
            f"+{added['openllmetry']:,.0f} | {result['ratio']:.2f} / {result['ratio_policies']:.2f} |"
        )
    _write(args, argv, target_ratio=TARGET_RATIO, cases=results)
    return 0


def _write(args: argparse.Namespace, argv: Any, **fields: Any) -> None:
    """The JSON report: the command and its counting parameters, then ``fields``."""
    command = "python bench/instructions.py " + " ".join(argv or sys.argv[1:])
    header = {"command": command, "low": args.low, "high": args.high, "seed": args.seed}
    write_results(args.output, {**header, **fields})


def count_parts(
    args: argparse.Namespace, python: str, env: dict[str, str], answers: dict[str, Any], argv: Any
) -> int:
    """``--parts``: instructions per call of each configuration of ``policy_parts.py``, and what each
    adds to the plain instrumented call (the scope alone, then one policy at a time over the scope)."""
    from policy_parts import PARTS

    results: dict[str, Any] = {}
    for case in args.cases:
        counts: dict[str, float] = {}
        for label, options in PARTS.items():
            spec = {"config": "costaware", "case": case, "answer": answers[case], "warmup": args.warmup}
            counts[label] = per_call(python, {**spec, "options": options}, env, args.low, args.high)
            added = counts[label] - counts["plain"]
            print(f"{case:17} {label:28} {counts[label]:>12,.0f} per call  {added:>+12,.0f}", flush=True)
        results[case] = {"instructions_per_call": counts}
    print()
    print("| configuration | " + " | ".join(f"{case} adds to plain" for case in results) + " |")
    print("| --- |" + " ---: |" * len(results))
    for label in PARTS:
        cells = [
            f"{r['instructions_per_call'][label] - r['instructions_per_call']['plain']:+,.0f}"
            for r in results.values()
        ]
        print(f"| {label} | " + " | ".join(cells) + " |")
    _write(args, argv, parts=dict(PARTS), cases=results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
