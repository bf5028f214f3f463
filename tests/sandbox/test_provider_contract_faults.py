"""The contract every adapter keeps against its emulator, one suite over all nine: health,
rate limits, keys and injected faults (see test_provider_contract.py for the data)."""

from __future__ import annotations

import pytest

from marketsvc.config import KEYLESS_PROVIDERS
from marketsvc.domain import AssetClass, Capability
from marketsvc.errors import (
    BadDataError,
    ProviderAuthError,
    ProviderUnavailableError,
    RateLimitedError,
)
from marketsvc.sandbox._framework import Fault
from tests._sandbox import adapter_on_sandbox
from tests.sandbox._contract import (
    KNOWN,
    NAMES,
    VENDOR,
    by_class,
    check_main_call,
    check_quote,
    declared,
    main_call,
    no_secret,
    on_sandbox,
    roomy,
)


@pytest.mark.parametrize("name", NAMES)
async def test_health_is_one_good_call(name: str) -> None:
    async with on_sandbox(name) as (p, state):
        await p.health()
        assert [c.status for c in state.calls] == [200]


# Limits, keys and faults ----------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
async def test_over_the_limit_is_rate_limited_with_retry_after(name: str) -> None:
    vendor = VENDOR[name]
    info = declared(name)
    weight = info.weights.get("quote" if Capability.QUOTE in info.capabilities else "news", 1)
    limits = {name: f"{2 * weight}/minute"}  # room for two calls, in the vendor's own units
    async with adapter_on_sandbox(name, key=vendor.key, limits=limits) as (p, state):
        call = main_call(p)
        await call()
        await call()
        with pytest.raises(RateLimitedError) as info_:
            await call()
        assert state.provider(name).over_limit == 1
        assert state.calls[-1].status == vendor.throttle_status and state.calls[-1].throttled
    low, high = vendor.retry_after
    assert info_.value.retry_after is not None and low <= info_.value.retry_after <= high
    no_secret(info_.value)


@pytest.mark.parametrize("name", NAMES)
async def test_missing_key_is_an_auth_error_unless_keyless(name: str) -> None:
    async with adapter_on_sandbox(name, key=None, limits=roomy(name)) as (p, state):
        if name in KEYLESS_PROVIDERS:
            await main_call(p)()  # the vendor answers market data without a key
            return
        with pytest.raises(ProviderAuthError) as info:
            await main_call(p)()
        assert len(state.calls) == (0 if VENDOR[name].local_key_check else 1)
        with pytest.raises(ProviderAuthError):
            await p.health()
    assert info.value.provider == name


@pytest.mark.parametrize("name", [n for n in NAMES if VENDOR[n].checks_key_value])
async def test_invalid_key_is_an_auth_error(name: str) -> None:
    async with adapter_on_sandbox(name, key="invalid", limits=roomy(name)) as (p, state):
        with pytest.raises(ProviderAuthError):
            await main_call(p)()
        assert [c.status for c in state.calls] == [401]
        with pytest.raises(ProviderAuthError):
            await p.health()


FAULTS = {
    "503": (Fault(kind="error", count=1, status=503), ProviderUnavailableError),
    "502": (Fault(kind="error", count=1, status=502), ProviderUnavailableError),
    "500": (Fault(kind="error", count=1, status=500), ProviderUnavailableError),
    "malformed": (Fault(kind="malformed", count=1), BadDataError),
    "throttle": (Fault(kind="throttle", count=1), RateLimitedError),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("name", NAMES)
async def test_injected_fault_becomes_a_typed_error_once(name: str, fault: str) -> None:
    injected, error = FAULTS[fault]
    async with on_sandbox(name) as (p, state):
        state.providers[name].faults.append(injected)
        with pytest.raises(error) as info:
            await main_call(p)()
        no_secret(info.value)
        await check_main_call(name, p, state)  # the fault was one-shot: healthy again


@pytest.mark.parametrize(("name", "ac"), by_class(Capability.QUOTE))
async def test_diverge_fault_scales_prices(name: str, ac: AssetClass) -> None:
    symbol = KNOWN[ac][0]
    async with on_sandbox(name) as (p, state):
        state.providers[name].faults.append(Fault(kind="diverge", factor=1.1))
        before = state.now()
        q = await p.quote(symbol, ac)
        check_quote(name, q, symbol, ac, (before, state.now()), factor=1.1)
