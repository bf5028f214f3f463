"""``marketsvc keys create|list|rotate|revoke`` against a database, as an operator runs them;
the keys it prints are then checked by the service reading the same database."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from marketsvc.cli import main
from marketsvc.db.engine import create_engine
from marketsvc.keys import Refusal, Scope
from marketsvc.keys.service import admin_service


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def _check(url: str, key: str) -> Refusal | str | None:
    engine = create_engine(url)
    try:
        record, refusal = await admin_service(engine, None, "t").authenticate(key, Scope.READ)
        return refusal if record is not None else "unknown"
    finally:
        await engine.dispose()


def test_create_list_rotate_revoke(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    code, out, err = _run(
        capsys, "keys", "create", "--name", "ci", "--limit", "60/minute",
        "--quota", "10000/day", "--priority", "low", "--json",
    )  # fmt: skip
    assert code == 0, err
    created = json.loads(out)
    assert (created["limit"], created["quota"], created["priority"]) == (
        "60/minute", "10000/day", "LOW"
    )  # fmt: skip
    assert "shown this once" in err
    assert asyncio.run(_check(url, created["key"])) is None

    code, out, _ = _run(capsys, "keys", "list")
    assert code == 0 and created["id"] in out and "active" in out
    assert created["key"] not in out

    code, out, _ = _run(capsys, "keys", "rotate", created["id"], "--json")
    rotated = json.loads(out)
    assert code == 0 and rotated["key"] != created["key"]
    assert asyncio.run(_check(url, created["key"])) == "unknown"
    assert asyncio.run(_check(url, rotated["key"])) is None

    code, out, _ = _run(capsys, "keys", "revoke", created["id"])
    assert code == 0 and "revoked" in out
    assert asyncio.run(_check(url, rotated["key"])) is Refusal.REVOKED

    code, _, err = _run(capsys, "keys", "revoke", "0123456789ab")
    assert code == 2 and "no client key" in err
    with pytest.raises(SystemExit) as exc:
        main(["keys", "create", "--name", "x", "--limit", "60/fortnight"])
    assert exc.value.code == 2
