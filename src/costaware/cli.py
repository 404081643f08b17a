"""The ``costaware`` command: ``demo``, ``sim``, ``report`` and ``explain``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from costaware.providers import PROVIDERS


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="costaware", description="Cost-aware LLM calls, observed.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="run a short workload against the local simulator and print its cost")
    sim = commands.add_parser("sim", help="serve the Anthropic/OpenAI simulator on loopback until Ctrl-C")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8080)
    report = commands.add_parser("report", help="spend and remaining budget from a SQLite or Redis store")
    report.add_argument(
        "--store",
        default=os.environ.get("COSTAWARE_BUDGET_STORE"),
        help="sqlite:////abs/path.db or redis://host:port/db (default: $COSTAWARE_BUDGET_STORE)",
    )
    report.add_argument("--period", choices=("day", "week", "month"), default="day")
    report.add_argument(
        "--by", choices=("budget", "feature", "tenant", "model", "provider"), default="budget"
    )
    report.add_argument(
        "--budget",
        action="append",
        default=[],
        metavar="KEY=LIMIT[/PERIOD]",
        help="show this budget's remaining amount (repeatable; default: $COSTAWARE_BUDGET_*)",
    )
    report.add_argument("--timezone", default=os.environ.get("COSTAWARE_BUDGET_TIMEZONE", "UTC"))
    explain = commands.add_parser("explain", help="show how route='auto' would route a prompt, and why")
    explain.add_argument("prompt")
    explain.add_argument(
        "--provider",
        choices=PROVIDERS,
        default=None,
        help=f"default: the provider --model names, else {PROVIDERS[0]}",
    )
    explain.add_argument("--model", default=None, help="the model the call would request")
    explain.add_argument("--policy", default="auto", help="auto (default), a tier name or a model id")
    explain.add_argument("--max-tokens", type=int, default=None, help="the call's output cap, if it sets one")
    explain.add_argument(
        "--quality", type=float, default=None, help="route='auto' quality, 0 to 1 (default: the shipped one)"
    )
    args = parser.parse_args(argv)

    if args.command == "explain":
        return _explain(args)

    if args.command == "demo":
        from costaware.demo import run

        run(sys.stdout)
        return 0
    if args.command == "report":
        return _report(args)
    from costaware.sim import serve

    serve(args.host, args.port)
    return 0


def _explain(args: argparse.Namespace) -> int:
    from costaware.config import current_settings, validate_policy
    from costaware.core.errors import ConfigurationError
    from costaware.core.routing import AutoClassifier, explain, ladders
    from costaware.core.routing.policies import RoutePolicy
    from costaware.core.routing.tiers import provider_of_model

    settings = current_settings()
    provider = args.provider or (provider_of_model(args.model) if args.model else None) or PROVIDERS[0]
    try:
        policy: RoutePolicy = validate_policy(args.policy)  # as @cost_aware(route=...) checks it
        if args.quality is not None:
            if args.policy != "auto":
                raise ConfigurationError("--quality applies to --policy auto only")
            policy = AutoClassifier(quality=args.quality)
        text = explain(
            args.prompt,
            provider=provider,
            policy=policy,
            model=args.model,
            max_tokens=args.max_tokens,
            tier_ladders=ladders(settings.tiers),
            allow_upgrade=settings.allow_upgrade,
        )
    except ConfigurationError as exc:
        print(f"costaware explain: {exc}", file=sys.stderr)
        return 2
    print(text)
    return 0


def _report(args: argparse.Namespace) -> int:
    from costaware.core.errors import ConfigurationError
    from costaware.report import budgets_from_env, render
    from costaware.stores import open_store

    if not args.store:
        print("costaware report: give --store (or set COSTAWARE_BUDGET_STORE)", file=sys.stderr)
        return 2
    try:
        _existing(args.store)
        store = open_store(args.store, read_only=True)  # a report only reads: a replica serves
        render(
            store,
            period=args.period,
            by=args.by,
            budgets=args.budget or budgets_from_env(),
            zone=args.timezone,
            out=sys.stdout,
        )
    except ConfigurationError as exc:
        print(f"costaware report: {exc}", file=sys.stderr)
        return 2
    return 0


def _existing(url: str) -> None:
    """A report reads a store: a SQLite file that does not exist is a typo, not an empty store."""
    from costaware.core.budget import parse_store_url
    from costaware.core.errors import ConfigurationError

    spec = parse_store_url(url)
    if spec.scheme == "sqlite" and not os.path.exists(spec.location):
        raise ConfigurationError(f"no budget database at {os.path.abspath(spec.location)!r}")
    if spec.scheme == "memory":
        raise ConfigurationError(
            "memory:// holds nothing outside the process that spent it: give a SQLite or Redis store"
        )


if __name__ == "__main__":
    raise SystemExit(main())
