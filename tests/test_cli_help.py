"""The CLI explains itself: ``--version``, help for every option, the configuration sources,
and (without ``--debug``) a failed start logged by uvicorn as one line instead of a traceback."""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from importlib.metadata import version

import pytest

import marketsvc
from marketsvc.cli import _OneLineFailure, build_parser


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices)


def test_version_prints_name_and_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "marketsvc", "--version"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.strip() == f"marketsvc {marketsvc.__version__}"
    assert marketsvc.__version__ == version("marketsvc")


def test_every_option_of_every_command_has_help() -> None:
    parser = build_parser()
    commands = _subcommands(parser)
    assert set(commands) == {"serve", "sandbox", "migrate", "keys"}
    key_actions = _subcommands(commands["keys"])
    assert set(key_actions) == {"create", "list", "revoke", "rotate"}
    every = [("marketsvc", parser), *commands.items(), *key_actions.items()]
    for name, command in every:
        for action in command._actions:
            assert action.help and action.help.strip(), f"{name} {action.option_strings}"


@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_command_help_names_the_configuration_sources(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([command, "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for needle in (".env", ".env.example", "environment", "DATABASE_URL", "exit status"):
        assert needle in text, needle


def test_serve_help_lists_its_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    text = capsys.readouterr().out
    for option in ("--host", "--port", "--workers", "--sandbox", "--debug"):
        assert option in text


@pytest.mark.parametrize(
    ("argv", "debug"),
    [(["serve"], False), (["--debug", "serve"], True), (["serve", "--debug"], True)],
)
def test_debug_is_accepted_before_or_after_the_command(argv: list[str], debug: bool) -> None:
    assert build_parser().parse_args(argv).debug is debug


def _record(msg: str, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, msg, None, exc_info)


def test_lifespan_traceback_text_becomes_its_last_line() -> None:
    # Starlette reports a failed lifespan start as the formatted traceback in the message.
    try:
        raise ValueError("Redis URL must specify one of the following schemes")
    except ValueError:
        import traceback

        text = traceback.format_exc()
    record = _record(text)
    assert _OneLineFailure().filter(record)
    message = record.getMessage()
    assert "\n" not in message and "Traceback" not in message
    assert message.endswith("ValueError: Redis URL must specify one of the following schemes")


def test_logged_exception_becomes_one_line() -> None:
    try:
        raise ConnectionError("refused")
    except ConnectionError as exc:
        record = _record("Exception in 'lifespan' protocol\n", exc)
    assert _OneLineFailure().filter(record)
    assert record.exc_info is None
    assert record.getMessage() == "Exception in 'lifespan' protocol: ConnectionError: refused"
