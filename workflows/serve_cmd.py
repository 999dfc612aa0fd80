"""``python -m workflows serve``: the local server (AWS APIs and console) over a state directory.

``workflows/cli.py`` registers it with :func:`add_commands`; ``python -m workflows.serve_cmd``
runs it alone.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from localaws import config
from localaws.errors import PlatformError

EXIT_PLATFORM = 3  # as workflows.cli: the machine is in the way (port taken, state dir owned)


def add_commands(
    subparsers: Any, parents: Sequence[argparse.ArgumentParser] = ()
) -> argparse.ArgumentParser:
    """Register ``serve`` on an ``add_subparsers()`` object; ``parents`` may supply
    ``--state-dir`` (it is added here otherwise)."""
    p = subparsers.add_parser(
        "serve",
        parents=list(parents),
        help="serve the AWS APIs (Step Functions, SageMaker, Lambda, S3) and the console",
        description="Serve the local runtime's state directory to boto3, the AWS CLI and the "
        "Data Science SDK (endpoint_url=http://HOST:PORT) until Ctrl-C or SIGTERM.",
    )
    p.add_argument(
        "--host",
        default=config.DEFAULT_HOST,
        help=f"address to bind (default: {config.DEFAULT_HOST}, this machine only)",
    )
    p.add_argument(
        "--port",
        type=int,
        default=config.DEFAULT_PORT,
        help=f"port to bind; 0 picks a free one (default: {config.DEFAULT_PORT})",
    )
    has_state_dir = any(
        "--state-dir" in action.option_strings for parent in parents for action in parent._actions
    )
    if not has_state_dir:
        p.add_argument(
            "--state-dir",
            default=None,
            help="local runtime state directory (default: $LOCALAWS_STATE_DIR or .local-aws)",
        )
    p.add_argument(
        "--log-level",
        default="warning",
        choices=("critical", "error", "warning", "info", "debug"),
        help="server log level (default: warning)",
    )
    p.set_defaults(func=cmd_serve)
    return p


def cmd_serve(args: argparse.Namespace) -> int:
    from localaws.server.serve import serve

    serve(
        getattr(args, "state_dir", None),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workflows.serve_cmd")
    add_commands(parser.add_subparsers(required=True, metavar="COMMAND"))
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        return int(args.func(args))
    except PlatformError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_PLATFORM
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
