"""POSTs alert transitions as JSON to ALERT_WEBHOOK_URL from a queue of its own.

The evaluator only enqueues (never awaits the network), so a slow or dead receiver cannot
delay anything else; a full queue drops the oldest payload and counts it. Each payload is
retried with growing pauses, then given up on (logged, counted)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import httpx

log = logging.getLogger(__name__)


class WebhookNotifier:
    def __init__(
        self,
        url: str,
        *,
        attempts: int = 5,
        first_pause: float = 0.5,
        timeout: float = 5.0,
        queue_size: int = 1000,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._url = url
        self.attempts = attempts
        self.first_pause = first_pause
        self._client = httpx.AsyncClient(timeout=timeout, transport=transport)
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=queue_size)
        self._task: asyncio.Task[None] | None = None
        self.sent = 0
        self.failed = 0
        self.dropped = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="alert-webhook")

    def enqueue(self, payload: dict[str, Any]) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(payload)

    async def _run(self) -> None:
        while True:
            payload = await self._queue.get()
            await self._deliver(payload)

    async def _deliver(self, payload: dict[str, Any]) -> None:
        pause = self.first_pause
        for attempt in range(1, self.attempts + 1):
            try:
                response = await self._client.post(self._url, json=payload)
                if response.status_code < 300:
                    self.sent += 1
                    return
                reason = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                reason = type(exc).__name__
            if attempt < self.attempts:
                await asyncio.sleep(pause)
                pause *= 2
        self.failed += 1
        # The URL may carry a token (Slack-style hooks): it is never logged.
        log.warning(
            "alert webhook gave up",
            extra={"alert": payload.get("alert", {}).get("rule"), "reason": reason},
        )

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._client.aclose()

    def stats(self) -> dict[str, int]:
        return {
            "sent": self.sent,
            "failed": self.failed,
            "dropped": self.dropped,
            "queued": self._queue.qsize(),
        }
