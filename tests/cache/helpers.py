"""Test doubles for the tiered-cache tests: a counting loader and a tier that can break."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Mapping, Sequence

from marketsvc.cache import CacheEntry, CacheKey, CacheTier, TierError, TierUsage


class CountingLoader:
    """A loader that counts its calls, can be held at a gate, and can fail."""

    def __init__(self, payload: bytes = b"v1", source: str = "binance") -> None:
        self.payload = payload
        self.source = source
        self.calls = 0
        self.error: Exception | None = None
        self.gate: asyncio.Event | None = None

    async def __call__(self) -> tuple[bytes, str]:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        return self.payload, self.source


class BatchLoader:
    """A batch loader answering from a table: bytes, or an exception for that key."""

    def __init__(self, answers: Mapping[str, bytes | Exception]) -> None:
        self.answers = answers
        self.calls: list[list[str]] = []

    async def __call__(
        self, keys: Sequence[CacheKey]
    ) -> dict[CacheKey, tuple[bytes, str] | Exception]:
        self.calls.append([key.symbol for key in keys])
        out: dict[CacheKey, tuple[bytes, str] | Exception] = {}
        for key in keys:
            answer = self.answers[key.symbol]
            out[key] = answer if isinstance(answer, Exception) else (answer, "batch")
        return out


class FlakyTier:
    """Wraps a tier; while ``broken`` every call fails as the real backend would
    (``exc`` lets a test raise something a tier should never raise, like a bug)."""

    def __init__(self, inner: CacheTier, name: str = "flaky") -> None:
        self.inner = inner
        self.name = name
        self.broken = False
        self.exc: Exception = TierError(name, "ConnectionError")
        self.get_many_calls = 0

    def _check(self) -> None:
        if self.broken:
            raise self.exc

    async def get(self, key: str) -> CacheEntry | None:
        self._check()
        return await self.inner.get(key)

    async def get_many(self, keys: Sequence[str]) -> list[CacheEntry | None]:
        self.get_many_calls += 1
        self._check()
        return await self.inner.get_many(keys)

    async def set(self, key: str, entry: CacheEntry) -> bool:
        self._check()
        return await self.inner.set(key, entry)

    async def set_many(self, items: Sequence[tuple[str, CacheEntry]]) -> int:
        self._check()
        return await self.inner.set_many(items)

    async def delete(self, key: str) -> None:
        self._check()
        await self.inner.delete(key)

    async def clear(self, prefix: str) -> int:
        self._check()
        return await self.inner.clear(prefix)

    async def usage(self) -> TierUsage:
        self._check()
        return await self.inner.usage()


async def settle_tasks(rounds: int = 20) -> None:
    """Let background tasks that do not wait on anything external run to completion."""
    for _ in range(rounds):
        await asyncio.sleep(0)


class RedisServer:
    """A throw-away ``redis-server`` on a spare port, so a test can kill and restart it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while loop.time() < deadline:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.02)
                continue
            writer.close()
            await writer.wait_closed()
            return
        raise RuntimeError("redis-server did not start")

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        self.proc = None


async def wait_until(predicate: Callable[[], bool], within: float) -> bool:
    """Poll ``predicate`` (state owned by another task, with no event to wait on) until it
    holds or ``within`` seconds pass; returns whether it held."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(0.002)
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
