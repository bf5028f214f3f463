"""``marketsvc serve|sandbox|migrate`` (also ``python -m marketsvc``)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

import uvicorn


def _serve(args: argparse.Namespace) -> int:
    if args.sandbox:
        os.environ["SANDBOX"] = "true"
    from marketsvc.config import Settings

    settings = Settings()
    if settings.auto_migrate:
        # Once, before any worker starts, so N workers do not race on the schema.
        from marketsvc.db.migrate import upgrade

        upgrade(settings.database_url)
    os.environ["AUTO_MIGRATE"] = "false"
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal into the handler it
    # found at start; a no-op one makes a graceful stop exit 0 instead of -15.
    signal.signal(signal.SIGTERM, lambda *_: None)
    uvicorn.run(
        "marketsvc.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )
    return 0


def _sandbox(args: argparse.Namespace) -> int:
    from marketsvc.sandbox import create_sandbox_app

    uvicorn.run(
        create_sandbox_app(), host=args.host, port=args.port, log_config=None, access_log=False
    )
    return 0


def _migrate(_: argparse.Namespace) -> int:
    from marketsvc.config import Settings
    from marketsvc.db.migrate import upgrade

    settings = Settings()
    upgrade(settings.database_url)
    print("migrations applied")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="marketsvc", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--sandbox", action="store_true", help="use the in-process emulator")
    serve.set_defaults(func=_serve)
    sandbox = sub.add_parser("sandbox", help="serve only the upstream emulator")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8900)
    sandbox.set_defaults(func=_sandbox)
    migrate = sub.add_parser("migrate", help="apply the database migrations")
    migrate.set_defaults(func=_migrate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
