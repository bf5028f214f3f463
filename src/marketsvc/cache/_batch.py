"""``TieredCache.get_many``: the batch form of the read-through.

One ``get_many`` per tier (one MGET on Redis) for the keys still unanswered, promotion of lower
hits in one write per tier, then ONE loader call for every key no tier could answer. Keys that
a concurrent single-key load is already fetching join that load instead; the keys of this
batch are registered as in-flight loads, so single-key callers join the batch in turn.

There is no cross-replica lease here: batches come from batch quotes and prefetch, where one
upstream batch call is already the cheap path and waiting on per-key leases would cost more.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from marketsvc.cache._singleflight import SingleFlight
from marketsvc.cache._stack import TierStack
from marketsvc.cache.base import NOT_FOUND, BatchLoader, CacheEntry, CacheKey, Loaded, Loader
from marketsvc.cache.policy import (
    CachePolicy,
    CacheResult,
    is_negative,
    negative_entry,
    raise_negative,
)
from marketsvc.cache.stats import RequestCounters, tally
from marketsvc.errors import AllProvidersFailedError

_NOT_FOUND = NOT_FOUND
# TieredCache.serve: answer from an entry if the freshness rules allow, else None.
Serve = Callable[[str, CacheEntry, str, Loader, CachePolicy, float], CacheResult | None]


def _single(loader: BatchLoader, key: CacheKey) -> Loader:
    """A one-key loader over the batch loader (for background revalidation of one key)."""

    async def load() -> tuple[bytes, str]:
        answer = (await loader([key])).get(key)
        if answer is None:
            raise AllProvidersFailedError(f"no answer for {key.symbol}")
        if isinstance(answer, Exception):
            raise answer
        return answer

    return load


async def load_batch(
    stack: TierStack,
    loads: SingleFlight[str, Loaded],
    serve: Serve,
    counters: RequestCounters,
    keys: Sequence[CacheKey],
    loader: BatchLoader,
    policy: CachePolicy,
) -> dict[CacheKey, CacheResult | Exception]:
    wanted = {key.text: key for key in keys}
    counters.requests += len(wanted)
    now = stack.clock()
    done: dict[str, CacheResult | Exception] = {}
    held: dict[str, tuple[CacheEntry, str]] = {}
    todo = list(wanted)
    for i, label in enumerate(stack.labels):
        if not todo:
            break
        found = await stack.get_many(i, todo)
        promote: list[tuple[str, CacheEntry]] = []
        rest: list[str] = []
        for k, entry in zip(todo, found, strict=True):
            prev = held.get(k)
            if entry is None or (prev is not None and entry.fetched_at <= prev[0].fetched_at):
                rest.append(k)
                continue
            if i:
                promote.append((k, entry))
            try:
                result = serve(k, entry, label, _single(loader, wanted[k]), policy, now)
            except _NOT_FOUND as exc:
                done[k] = exc
                continue
            if result is None:
                held[k] = (entry, label)
                rest.append(k)
            else:
                done[k] = result
        if promote:
            await stack.write(promote, upto=i)
        todo = rest
    if todo:
        outcomes = await _load(stack, loads, counters, [wanted[k] for k in todo], loader, policy)
        now = stack.clock()
        for k, outcome in outcomes.items():
            done[k] = _result(outcome, held.get(k), now)
    for answer in done.values():
        if isinstance(answer, CacheResult):
            tally(counters, answer)
        elif isinstance(answer, _NOT_FOUND):
            counters.not_found += 1
        else:
            counters.failed += 1
    return {key: done[k] for k, key in wanted.items()}


async def _load(
    stack: TierStack,
    loads: SingleFlight[str, Loaded],
    counters: RequestCounters,
    keys: list[CacheKey],
    loader: BatchLoader,
    policy: CachePolicy,
) -> dict[str, Loaded | BaseException]:
    mine: dict[str, asyncio.Future[Loaded]] = {}
    theirs: dict[str, asyncio.Future[Loaded]] = {}
    for key in keys:
        fut = loads.claim(key.text)
        if fut is not None:
            mine[key.text] = fut
        elif (joined := loads.join(key.text)) is not None:
            theirs[key.text] = joined
    outcomes: dict[str, Loaded | BaseException] = {}
    if mine:
        claimed = [key for key in keys if key.text in mine]
        outcomes.update(await _run(stack, loads, counters, claimed, mine, loader, policy))
    if theirs:
        got = await asyncio.gather(
            *(asyncio.shield(fut) for fut in theirs.values()), return_exceptions=True
        )
        outcomes.update(zip(theirs, got, strict=True))
    return outcomes


async def _run(
    stack: TierStack,
    loads: SingleFlight[str, Loaded],
    counters: RequestCounters,
    keys: list[CacheKey],
    mine: dict[str, asyncio.Future[Loaded]],
    loader: BatchLoader,
    policy: CachePolicy,
) -> dict[str, Loaded | BaseException]:
    outcomes: dict[str, Loaded | BaseException] = {}
    try:
        counters.loads += 1
        try:
            answers = await loader(keys)
        except Exception as exc:
            counters.load_errors += 1
            outcomes = {key.text: exc for key in keys}
            return outcomes
        now = stack.clock()
        writes: list[tuple[str, CacheEntry]] = []
        for key in keys:
            answer = answers.get(key)
            if answer is None:
                answer = AllProvidersFailedError(f"no answer for {key.symbol}")
            if isinstance(answer, Exception):
                if isinstance(answer, _NOT_FOUND) and policy.negative_ttl > 0:
                    writes.append((key.text, negative_entry(answer, now, policy.negative_ttl)))
                outcomes[key.text] = answer
            else:
                entry = policy.entry(answer[0], answer[1], now)
                writes.append((key.text, entry))
                outcomes[key.text] = (entry, "upstream")
        await stack.write(writes)
        return outcomes
    finally:
        # Settle every claimed flight — with the outcome, or cancelled when we were — so no
        # single-key caller that joined this batch waits forever.
        for k, fut in mine.items():
            out = outcomes.get(k)
            if out is None:
                loads.settle(k, fut, error=asyncio.CancelledError())
            elif isinstance(out, BaseException):
                loads.settle(k, fut, error=out)
            else:
                loads.settle(k, fut, out)


def _result(
    outcome: Loaded | BaseException, held: tuple[CacheEntry, str] | None, now: float
) -> CacheResult | Exception:
    if isinstance(outcome, tuple):
        entry, label = outcome
        if is_negative(entry):
            try:
                raise_negative(entry)
            except _NOT_FOUND as exc:
                return exc
        return CacheResult(entry, label, not entry.is_fresh(now), entry.age(now))
    if not isinstance(outcome, Exception):
        raise outcome  # our flight was cancelled (shutdown)
    if isinstance(outcome, _NOT_FOUND):
        return outcome
    if held is not None and not is_negative(held[0]) and now < held[0].stale_until:
        return CacheResult(held[0], held[1], True, held[0].age(now), error=outcome)
    return outcome
