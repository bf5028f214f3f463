"""Deadlines end to end: ``marketsvc serve`` against the emulator process with hanging and slow
upstreams. Figures: a hanging primary is answered by the next provider at the spill-over
(about 2 s), not after PROVIDER_TIMEOUT × retries; with every provider hanging the 503 comes at
REQUEST_TIMEOUT (+ a small epsilon); providers that are slow (2.1 s) but working answer 200."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from marketsvc.config import PROVIDER_NAMES
from tests.e2e.procs import emulator, service, service_env

REQUEST_TIMEOUT = 5.0
EPSILON = 0.5
HANG = REQUEST_TIMEOUT + 3


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """The emulator, a service with PROVIDER_TIMEOUT=2 and REQUEST_TIMEOUT=5, and one with
    the defaults (10 and 10)."""
    with ExitStack() as st:
        emu = st.enter_context(emulator(tmp_path))
        tight = service_env(
            emu,
            f"sqlite+aiosqlite:///{tmp_path / 'tight.db'}",
            PROVIDER_TIMEOUT="2",
            REQUEST_TIMEOUT=str(REQUEST_TIMEOUT),
        )
        defaults = service_env(emu, f"sqlite+aiosqlite:///{tmp_path / 'defaults.db'}")
        yield (
            emu,
            st.enter_context(service(tmp_path, tight, "tight")),
            st.enter_context(service(tmp_path, defaults, "defaults")),
        )


def _fault(emu: str, provider: str, kind: str, **params: float) -> None:
    body = {"provider": provider, "kind": kind, **params}
    httpx.post(f"{emu}/_control/faults", json=body, timeout=5).raise_for_status()


def _timed_get(url: str) -> tuple[httpx.Response, float]:
    t0 = time.monotonic()
    resp = httpx.get(url, timeout=60)
    return resp, time.monotonic() - t0


@pytest.mark.timeout(60)
def test_hanging_and_slow_upstreams(stack: tuple[str, str, str]) -> None:
    emu, root, default_root = stack
    price = f"{root}/api/market/price"

    # (c) Every provider answers, but in 2.1 s: past the 2 s spill-over, within the deadline
    # (and within the default PROVIDER_TIMEOUT).
    for name in PROVIDER_NAMES:
        _fault(emu, name, "latency", seconds=2.1)
    slow, slow_took = _timed_get(f"{default_root}/api/market/price/BTC")
    print(
        f"\n(c) all slow (2.1 s): {slow.status_code} from {slow.json().get('source')} "
        f"in {slow_took:.2f} s"
    )
    assert slow.status_code == 200, slow.text
    assert slow.json()["source"] == "binance"  # the first asked, not abandoned for being slow
    assert 2.1 <= slow_took < 2.1 + EPSILON
    httpx.delete(f"{emu}/_control/faults", timeout=5).raise_for_status()

    # (a) The primary accepts and never answers; PROVIDER_TIMEOUT=2.
    # (It gives up after HANG seconds, far past what is measured, so the emulator can stop.)
    _fault(emu, "binance", "hang", seconds=HANG)
    hedged, hedged_took = _timed_get(f"{price}/ETH")
    print(
        f"(a) hanging primary: {hedged.status_code} from {hedged.json().get('source')} "
        f"in {hedged_took:.2f} s"
    )
    assert hedged.status_code == 200, hedged.text
    assert hedged.json()["source"] == "coingecko"
    assert 2.0 <= hedged_took < 2.0 + EPSILON

    # (b) Every provider hangs: the 503 comes at REQUEST_TIMEOUT.
    for name in PROVIDER_NAMES:
        _fault(emu, name, "hang", seconds=HANG)
    down, down_took = _timed_get(f"{price}/SOL")
    print(
        f"(b) all hanging: {down.status_code} in {down_took:.2f} s "
        f"(REQUEST_TIMEOUT={REQUEST_TIMEOUT:g}); detail: {down.json()['detail']}"
    )
    assert down.status_code == 503, down.text
    assert int(down.headers["retry-after"]) >= 1
    assert REQUEST_TIMEOUT - 0.1 <= down_took <= REQUEST_TIMEOUT + EPSILON
    assert "binance: " in down.json()["detail"]
