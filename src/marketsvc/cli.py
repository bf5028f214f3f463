"""``marketsvc serve|sandbox|migrate`` (also ``python -m marketsvc``).

A start-up failure is one line on stderr per problem, ``marketsvc: ...``, and an exit status
that says whose move it is (EXIT_STATUS below); ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import NoReturn

import uvicorn

from marketsvc import __version__
from marketsvc.cli_keys import add_keys_command
from marketsvc.logs import redact
from marketsvc.preflight import (
    DATABASE_TIMEOUT,
    REDIS_TIMEOUT,
    StartupError,
    UnavailableError,
    check_database,
    check_listen,
    check_redis,
    load_settings,
)

EXIT_STATUS = """exit status:
  0  stopped cleanly (SIGTERM or Ctrl-C)
  1  an unexpected error
  2  invalid configuration or command line: fix it and start again
  3  the configuration is valid but the database, Redis or the listen address
     cannot be used now (not running, wrong host or password, port taken)"""

CONFIGURATION = """configuration:
  Settings come from environment variables, or from a .env file in the current
  directory (variables win over the file). Names are unprefixed, e.g.
  DATABASE_URL, REDIS_URL, ADMIN_TOKEN, LOG_LEVEL, PROVIDER_TIMEOUT, and per
  provider <P>_API_KEY, <P>_ENABLED, <P>_RATE_LIMITS, <P>_BASE_URL. .env.example
  lists every variable with its default; the README explains them."""


SERVE_DETAILS = f"""Before uvicorn starts, it checks in this order: the settings, the listen
address, the database (one SELECT 1 within {DATABASE_TIMEOUT:g} s, then the migrations unless
AUTO_MIGRATE=false) and, when REDIS_URL is set, Redis (one PING within {REDIS_TIMEOUT:g} s).
The first failure is one line on stderr with the exit status below; --debug
adds the traceback."""


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (argparse prints the whole usage block first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}; see '{self.prog} --help'\n")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535), e.g. 8000")
    return port


def _workers(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number, e.g. 2")
    return count


class _OneLineFailure(logging.Filter):
    """Without --debug, what uvicorn logs about a failed start (a traceback from the app's
    lifespan, as text or as exc_info) becomes one line: its last, the exception itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            record.msg = f"{record.getMessage().strip()}: {type(exc).__name__}: {exc}"
            record.args, record.exc_info, record.exc_text = None, None, None
        message = record.getMessage()
        if message.startswith("Traceback (most recent call last)"):
            last = [line for line in message.splitlines() if line.strip()][-1]
            record.msg, record.args = f"Application startup failed: {last}", None
        return True


def _serve(args: argparse.Namespace) -> int:
    if args.sandbox:
        os.environ["SANDBOX"] = "true"
    settings = load_settings()
    check_listen(args.host, args.port)
    # Once, before any worker starts, so N workers do not race on the schema.
    check_database(settings, migrate=settings.auto_migrate)
    check_redis(settings)
    os.environ["AUTO_MIGRATE"] = "false"
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal into the handler it
    # found at start; a no-op one makes a graceful stop exit 0 instead of -15.
    signal.signal(signal.SIGTERM, lambda *_: None)
    if not args.debug:
        logging.getLogger("uvicorn.error").addFilter(_OneLineFailure())
    try:
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
    except SystemExit as exc:
        if exc.code in (0, None):
            return 0
        raise UnavailableError(
            "the service did not start; the log line before this one says why"
        ) from exc
    return 0


def _sandbox(args: argparse.Namespace) -> int:
    from marketsvc.sandbox import create_sandbox_app

    check_listen(args.host, args.port)
    uvicorn.run(
        create_sandbox_app(), host=args.host, port=args.port, log_config=None, access_log=False
    )
    return 0


def _migrate(_: argparse.Namespace) -> int:
    check_database(load_settings(), migrate=True)
    print("migrations applied")
    return 0


def _add_debug(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--debug",
        action="store_true",
        default=default,
        help="on a start-up failure, print the traceback too",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="marketsvc",
        description="One asyncio gateway for market data across rate-limited public providers.",
        epilog=f"Run 'marketsvc <command> --help' for a command's options.\n\n{EXIT_STATUS}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"marketsvc {__version__}")
    _add_debug(parser, False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="command", help="one of:")
    with_settings = f"{CONFIGURATION}\n\n{EXIT_STATUS}"

    def command(
        name: str,
        summary: str,
        details: str,
        func: Callable[[argparse.Namespace], int],
        epilog: str = with_settings,
    ) -> _Parser:
        cmd: _Parser = sub.add_parser(
            name,
            help=summary,
            description=f"{summary[:1].upper()}{summary[1:]}.\n\n{details}",
            epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        # SUPPRESS: 'marketsvc --debug serve' is not undone by serve's own default.
        _add_debug(cmd, argparse.SUPPRESS)
        cmd.set_defaults(func=func)
        return cmd

    serve = command("serve", "serve the API", SERVE_DETAILS, _serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    serve.add_argument("--port", type=_port, default=8000, help="port to listen on (%(default)s)")
    serve.add_argument("--workers", type=_workers, default=1, help="worker processes (%(default)s)")
    serve.add_argument(
        "--sandbox",
        action="store_true",
        help="answer from the in-process upstream emulator, not the internet (SANDBOX=true)",
    )
    sandbox = command(
        "sandbox",
        "serve only the upstream emulator",
        "It answers the providers' real paths and wire formats with generated data.\n"
        "To use it from another process, put the provider's name before each real\n"
        "base URL's path: COINGECKO_BASE_URL=http://127.0.0.1:8900/coingecko/api/v3,\n"
        "BINANCE_BASE_URL=http://127.0.0.1:8900/binance, and so on.",
        _sandbox,
        epilog=EXIT_STATUS,
    )
    sandbox.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    sandbox.add_argument("--port", type=_port, default=8900, help="port to listen on (%(default)s)")
    command(
        "migrate",
        "apply the database migrations to DATABASE_URL",
        "'marketsvc serve' does this by itself unless AUTO_MIGRATE=false.",
        _migrate,
    )
    add_keys_command(sub, command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except StartupError as exc:
        return _fail(args, exc.lines, exc.exit_code)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # a bug, not a misconfiguration: still one line without --debug
        detail = redact(" ".join(str(exc).split()))[:200]
        return _fail(args, [f"unexpected {type(exc).__name__}: {detail} (rerun with --debug)"], 1)
    return result


def _fail(args: argparse.Namespace, lines: Sequence[str], status: int) -> int:
    if args.debug:
        traceback.print_exc()
    for line in lines:
        print(f"marketsvc: {line}", file=sys.stderr)
    return status
