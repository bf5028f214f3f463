"""Every provider a default chain lists declares, in its ProviderInfo, the capability and the
asset class it is listed for: otherwise the chain would route calls the adapter refuses."""

from __future__ import annotations

import pytest

from marketsvc.domain import AssetClass, Capability
from marketsvc.orchestrator.chains import DEFAULT_CHAINS
from tests.sandbox._contract import declared


@pytest.mark.parametrize(
    ("capability", "ac", "name"),
    [(cap, ac, name) for (cap, ac), names in DEFAULT_CHAINS.items() for name in names],
)
def test_chain_members_declare_what_they_are_listed_for(
    capability: Capability, ac: AssetClass | None, name: str
) -> None:
    info = declared(name)
    assert capability in info.capabilities
    assert ac is None or ac in info.asset_classes
