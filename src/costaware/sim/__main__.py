"""``python -m costaware.sim [--host H] [--port N]``: run the simulator in the foreground."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .server import serve


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and serve until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m costaware.sim", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to bind (default 8080; 0 = any)")
    args = parser.parse_args(argv)
    serve(args.host, args.port)


if __name__ == "__main__":
    main()
