"""Do a provider's request weights fit its configured limits? Checked once at start-up, so a
tight ``<P>_RATE_LIMITS`` is explained in the log instead of surfacing as failed requests.

Pure: it takes the limits, the units kept back for lookups and the weights, and returns one
sentence per conflict (what is configured, what the heaviest call needs, what will happen).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from marketsvc.domain import RateLimit


@dataclass(frozen=True, slots=True)
class CallWeights:
    """What one provider's calls weigh: per operation, for a batch of n, and its lookups."""

    operations: Mapping[str, int]
    lookup: int = 0
    max_batch: int = 1
    batch_weight: Callable[[int], int] | None = None


def budget_conflicts(
    provider: str,
    setting: str,
    limits: Sequence[RateLimit],
    reserved: Sequence[int],
    weights: CallWeights,
) -> list[str]:
    configured = ";".join(str(limit) for limit in limits)
    ordinary = min(limit.limit - r for limit, r in zip(limits, reserved, strict=True))
    whole = min(limit.limit for limit in limits)
    kept = [f"{r} of {limit}" for limit, r in zip(limits, reserved, strict=True) if r]
    prefix = f"{provider}: {setting}={configured}"
    if kept:
        prefix += f" ({', '.join(kept)} kept for lookups)"
    out: list[str] = []
    for operation, weight in sorted(weights.operations.items()):
        if weight > ordinary:
            out.append(
                f"{prefix} allows calls of weight {ordinary} at most, but {operation} weighs "
                f"{weight}: every {operation} call to {provider} is refused (the next provider "
                f"answers, or 503 with Retry-After)"
            )
    if weights.lookup > whole:
        out.append(
            f"{prefix} allows {whole} units per window, but a symbol lookup weighs "
            f"{weights.lookup}: lookups are refused, so only symbols {provider} maps without "
            f"one are served by it"
        )
    if weights.batch_weight is not None and weights.max_batch > 1:
        full = weights.batch_weight(weights.max_batch)
        if full > ordinary:
            fitting = max(
                (n for n in range(1, weights.max_batch + 1) if weights.batch_weight(n) <= ordinary),
                default=0,
            )
            effect = (
                f"batches shrink to {fitting} symbols (weight {weights.batch_weight(fitting)})"
                if fitting
                else "batch calls are refused"
            )
            out.append(
                f"{prefix} allows calls of weight {ordinary} at most, but a batch of "
                f"{weights.max_batch} symbols weighs {full}: {effect}"
            )
    return out
