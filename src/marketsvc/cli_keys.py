"""``marketsvc keys create|list|revoke|rotate``: client keys from the command line.

They work on ``DATABASE_URL`` directly (applying the migrations first, as ``serve`` does), and
announce each change on Redis when ``REDIS_URL`` is set, so running replicas apply it within
a second; without Redis a running server sees it at its next reload (10 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from marketsvc.config import Settings
from marketsvc.db.engine import create_engine
from marketsvc.db.mode import mode_name
from marketsvc.domain import Priority
from marketsvc.keys import ClientKey, KeyService, key_view, parse_limit, parse_scopes
from marketsvc.keys.service import admin_service
from marketsvc.preflight import ConfigError, check_database, check_redis, load_settings

KEYS_DETAILS = """A key is shown once, when it is created or rotated, and stored only as a hash;
'keys list' shows ids and prefixes (msk_<id>), never keys. Changes are announced to
running replicas through Redis when REDIS_URL is set."""


def _window(what: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        try:
            parse_limit(text, what)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return text

    return parse


def _scopes(text: str) -> str:
    try:
        parse_scopes(text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _expiry(text: str) -> float:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 date or time, e.g. 2027-01-31 or 2027-01-31T12:00:00Z"
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _priority(text: str) -> str:
    name = text.strip().upper()
    if name not in Priority.__members__ or name == "URGENT":
        raise argparse.ArgumentTypeError("priority is one of HIGH, MEDIUM, LOW, BATCH")
    return name


def add_keys_command(sub: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    """``keys`` and its subcommands, on the CLI's subparsers (``command`` is cli.py's maker)."""
    keys = command("keys", "create, list, revoke or rotate client API keys", KEYS_DETAILS, _run)
    actions = keys.add_subparsers(dest="action", required=True, metavar="action", help="one of:")
    create = actions.add_parser("create", help="create a key and print it (shown this once)")
    create.add_argument("--name", required=True, help="who or what the key is for")
    create.add_argument(
        "--limit", type=_window("--limit"), help="requests per window, e.g. 60/minute (none)"
    )
    create.add_argument(
        "--quota", type=_window("--quota"), help="a longer window, e.g. 10000/day (none)"
    )
    create.add_argument(
        "--scopes", type=_scopes, default="read", help="read and/or admin, comma-separated (read)"
    )
    create.add_argument(
        "--expires", type=_expiry, help="ISO 8601 date or time, UTC unless an offset is given"
    )
    create.add_argument(
        "--priority",
        type=_priority,
        help="planner priority of this key's upstream calls: HIGH, MEDIUM, LOW or BATCH",
    )
    listing = actions.add_parser("list", help="every key: id, prefix, name, status, limits")
    for name, text in (
        ("revoke", "revoke a key (refused at once)"),
        ("rotate", "a new key for the same id; the old one is refused"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("id", help="the key's id (12 hex characters, from 'keys list')")
    for action in (create, listing, *actions.choices.values()):
        if not any(a.dest == "json" for a in action._actions):
            action.add_argument("--json", action="store_true", help="print JSON instead of text")


def _run(args: argparse.Namespace) -> int:
    settings = load_settings()
    check_database(settings, migrate=settings.auto_migrate)
    check_redis(settings)
    return asyncio.run(_with_service(settings, lambda service: _act(service, args)))


async def _with_service(
    settings: Settings, act: Callable[[KeyService], Coroutine[Any, Any, int]]
) -> int:
    engine = create_engine(settings.database_url)
    redis = aioredis.Redis.from_url(settings.redis_url) if settings.redis_url else None
    # The container's namespace (container.py): real and sandbox replicas listen apart.
    namespace = "marketsvc:v1" if mode_name(settings.sandbox) == "real" else "marketsvc:v1:sandbox"
    try:
        return await act(admin_service(engine, redis, namespace))
    finally:
        if redis is not None:
            await redis.aclose()
        await engine.dispose()


async def _act(service: KeyService, args: argparse.Namespace) -> int:
    if args.action == "create":
        issued = await service.create(
            args.name,
            scopes=parse_scopes(args.scopes.split(",")),
            rate_limit=parse_limit(args.limit, "--limit"),
            quota=parse_limit(args.quota, "--quota"),
            expires_at=args.expires,
            priority=Priority[args.priority] if args.priority else None,
        )
        _print(args, _view(issued.record), key=issued.key)
        return 0
    if args.action == "list":
        records = await service.all()
        if args.json:
            print(json.dumps([_view(r) for r in records], indent=2))
        for r in records if not args.json else ():
            view = _view(r)
            print(
                f"{view['id']}  {view['prefix']}  {view['status']:8s}  "
                f"{view['limit'] or '-':>12s}  {view['quota'] or '-':>12s}  {view['name']}"
            )
        return 0
    if args.action == "revoke":
        record = await service.revoke(args.id)
        if record is None:
            raise ConfigError(f"no client key with id {args.id!r}; see 'marketsvc keys list'")
        _print(args, _view(record))
        return 0
    rotated = await service.rotate(args.id)
    if rotated is None:
        raise ConfigError(f"no active client key with id {args.id!r}; see 'marketsvc keys list'")
    _print(args, _view(rotated.record), key=rotated.key)
    return 0


def _view(r: ClientKey) -> dict[str, Any]:
    return key_view(r, datetime.now(UTC).timestamp())


def _print(args: argparse.Namespace, view: dict[str, Any], key: str | None = None) -> None:
    if key is not None:
        view = {"key": key, **view}
        print("The key is shown this once and stored only as a hash: keep it now.", file=sys.stderr)
    if args.json:
        print(json.dumps(view, indent=2))
        return
    for name, value in view.items():
        shown = ",".join(value) if isinstance(value, list) else value
        print(f"{name + ':':12s} {shown if shown is not None else '-'}")
