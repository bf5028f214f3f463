"""Start-up checks run by the CLI before uvicorn starts, so a misconfiguration ends in one line.

Inside uvicorn, a failure in the app's lifespan (an unreachable database, a bad Redis URL) is
logged as a traceback among other log lines and ends with exit status 3. Everything a
configuration can get wrong is checked here first instead, cheaply (milliseconds when all is
well; each wait is bounded):

- the settings parse: one line per wrong variable                        -> ConfigError (2)
- the listen address can be bound (bind and close, never listen)          -> UnavailableError (3)
- the database answers ``SELECT 1`` within DATABASE_TIMEOUT seconds; then
  the migrations are applied (serve did that here already)               -> UnavailableError (3)
- the database holds this run's data mode (real or sandbox), never the other -> ConfigError (2)
- Redis, when REDIS_URL is set, answers PING within REDIS_TIMEOUT seconds -> UnavailableError (3)

The service itself tolerates Redis or the database going away *while it runs*; refusing to
start without them catches the common case (a wrong host, port or password) at the moment
someone is looking, and a supervisor's restart covers a real outage.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
from pathlib import Path

import redis.asyncio as aioredis
from pydantic import SecretStr
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from sqlalchemy import make_url, text
from sqlalchemy.exc import DBAPIError

from marketsvc.config import Settings
from marketsvc.logs import redact
from marketsvc.settings_errors import safe_url, settings_error_lines

DATABASE_TIMEOUT = 5.0
REDIS_TIMEOUT = 3.0


class StartupError(Exception):
    """Start-up cannot go on; ``lines`` say why (one per problem) and how to fix it."""

    exit_code = 1

    def __init__(self, *lines: str) -> None:
        super().__init__("; ".join(lines))
        self.lines = lines


class ConfigError(StartupError):
    """The configuration (environment, ``.env`` or command line) is invalid."""

    exit_code = 2


class UnavailableError(StartupError):
    """The configuration is valid, but something it names cannot be used now."""

    exit_code = 3


def load_settings() -> Settings:
    try:
        return Settings()
    # ValidationError is a ValueError; OSError and UnicodeError come from an unreadable .env.
    except (ValueError, OSError) as exc:
        raise ConfigError(*settings_error_lines(exc)) from exc


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value the settings hold, plus the database and Redis passwords."""
    values = [v.get_secret_value() for v in vars(settings).values() if isinstance(v, SecretStr)]
    for url in (settings.database_url, settings.redis_url or ""):
        userinfo = url.partition("://")[2].rpartition("@")[0]
        values.append(userinfo.partition(":")[2])
    return [v for v in values if v]


def reason(exc: BaseException, secrets: list[str], timeout: float) -> str:
    """A short, one-line, secret-free account of ``exc`` (its driver-level cause if wrapped)."""
    if isinstance(exc, TimeoutError):  # checked first: its cause is only the cancellation
        return f"no answer within {timeout:g} s"
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    while exc.__cause__ is not None:  # drivers wrap the socket's or server's own error
        exc = exc.__cause__
    if isinstance(exc, socket.gaierror):
        return f"unknown host: {exc.strerror}"
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno)
    message = " ".join(str(exc).split()) or "no details"
    return redact(f"{type(exc).__name__}: {message[:200]}", secrets)


def check_listen(host: str, port: int) -> None:
    """Bind (and release) every address uvicorn will listen on, as asyncio would."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(
            f"--host {host!r} is not an address of this machine ({exc.strerror}); "
            "use e.g. --host 127.0.0.1, or --host 0.0.0.0 for every interface"
        ) from exc
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                if family == socket.AF_INET6 and exc.errno == errno.EADDRNOTAVAIL:
                    continue  # IPv6 switched off: asyncio skips such an address too
                raise UnavailableError(
                    f"cannot listen on {host}:{port} ({os.strerror(exc.errno or 0)}); "
                    "stop whatever holds that port, or choose another --port"
                ) from exc


async def _ping_database(settings: Settings) -> None:
    from marketsvc.db.engine import create_engine

    engine = create_engine(settings.database_url)
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    finally:
        await engine.dispose()


async def _ping_redis(url: str) -> None:
    try:
        # No retries: one refused connection is the answer; the timeout bounds everything else.
        client = aioredis.Redis.from_url(
            url,
            retry=Retry(NoBackoff(), 0),
            socket_connect_timeout=REDIS_TIMEOUT,
            socket_timeout=REDIS_TIMEOUT,
        )
    except ValueError as exc:  # e.g. a port that is not a number
        raise ConfigError(
            f"REDIS_URL={safe_url(url)!r} is not a usable Redis URL ({exc}); "
            "use e.g. redis://127.0.0.1:6379/0"
        ) from exc
    try:
        async with asyncio.timeout(REDIS_TIMEOUT):
            await client.ping()
    finally:
        await client.aclose()


def _database_hint(settings: Settings) -> str:
    if settings.database_url.startswith("sqlite"):
        return "check that the file's directory exists and is writable"
    return "check that PostgreSQL runs there and the URL's host, port, user, password and database"


def _sqlite_folder(url: str) -> Path | None:
    """The folder of a file-based SQLite URL (None for other databases and :memory:)."""
    if not url.startswith("sqlite"):
        return None
    path = make_url(url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path).expanduser().resolve().parent


def check_database(settings: Settings, *, migrate: bool) -> None:
    """Connect once; then, if ``migrate``, apply the migrations."""
    secrets = secrets_of(settings)
    shown = f"DATABASE_URL={safe_url(settings.database_url)!r}"
    folder = _sqlite_folder(settings.database_url)
    if folder is not None and not os.access(folder, os.W_OK | os.X_OK):
        # Checked before connecting: aiosqlite's worker thread reports a failed open on a loop
        # that asyncio.run has already closed, and that would print a stray traceback.
        raise UnavailableError(
            f"cannot connect to the database {shown} (the folder {str(folder)!r} does not exist "
            f"or is not writable); {_database_hint(settings)}"
        )
    try:
        asyncio.run(_ping_database(settings))
    except Exception as exc:
        why = reason(exc, secrets, DATABASE_TIMEOUT)
        raise UnavailableError(
            f"cannot connect to the database {shown} ({why}); {_database_hint(settings)}"
        ) from exc
    if not migrate:
        return
    from marketsvc.db.migrate import upgrade

    try:
        upgrade(settings.database_url)
    except Exception as exc:
        why = reason(exc, secrets, DATABASE_TIMEOUT)
        raise UnavailableError(
            f"cannot apply the migrations to {shown} ({why}); "
            "run 'marketsvc --debug migrate' for the details"
        ) from exc
    check_data_mode(settings)


async def _claim_mode(settings: Settings) -> None:
    from marketsvc.db.engine import create_engine
    from marketsvc.db.mode import claim_data_mode, mode_name

    engine = create_engine(settings.database_url)
    try:
        await claim_data_mode(engine, mode_name(settings.sandbox))
    finally:
        await engine.dispose()


def check_data_mode(settings: Settings) -> None:
    """Refuse a database that holds the other mode's data (sandbox vs real): one line."""
    from marketsvc.db.mode import DataModeError

    try:
        asyncio.run(_claim_mode(settings))
    except DataModeError as exc:
        raise ConfigError(str(exc)) from exc


def check_redis(settings: Settings) -> None:
    if not settings.redis_url:
        return
    try:
        asyncio.run(_ping_redis(settings.redis_url))
    except StartupError:
        raise
    except Exception as exc:
        raise UnavailableError(
            f"cannot reach Redis at REDIS_URL={safe_url(settings.redis_url)!r} "
            f"({reason(exc, secrets_of(settings), REDIS_TIMEOUT)}); start it, fix REDIS_URL, "
            "or unset REDIS_URL for single-process mode"
        ) from exc
