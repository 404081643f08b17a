"""The ``costaware`` command: ``demo`` and ``sim``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="costaware", description="Cost-aware LLM calls, observed.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="run a short workload against the local simulator and print its cost")
    sim = commands.add_parser("sim", help="serve the Anthropic/OpenAI simulator on loopback until Ctrl-C")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)

    if args.command == "demo":
        from costaware.demo import run

        run(sys.stdout)
        return 0
    from costaware.sim import serve

    serve(args.host, args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
