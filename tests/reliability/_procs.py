"""What only the reliability suite needs on top of ``tests._services``: which providers this
tree has, and a ``marketsvc serve`` environment pointed at an emulator process.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping

from marketsvc.config import KEYLESS_PROVIDERS, PROVIDER_NAMES
from marketsvc.sandbox import sandbox_base_url


def providers_available() -> list[str]:
    """Providers with both an adapter and an emulator in this tree (others are disabled)."""
    return [
        name
        for name in PROVIDER_NAMES
        if importlib.util.find_spec(f"marketsvc.providers.{name}") is not None
        and importlib.util.find_spec(f"marketsvc.sandbox.{name}") is not None
    ]


def service_env(
    emulator_root: str,
    database_url: str,
    keys: Mapping[str, str] | None = None,
    **extra: str,
) -> dict[str, str]:
    """Every available provider pointed at the emulator process; keyed providers get
    ``keys[name]`` (or a placeholder); providers not built yet are disabled."""
    available = set(providers_available())
    env = {
        "DATABASE_URL": database_url,
        "SCHEDULER_ENABLED": "false",
        "STREAMS_ENABLED": "false",  # no stream may reach for the internet from a test
        "LOG_LEVEL": "WARNING",
    }
    for name in PROVIDER_NAMES:
        upper = name.upper()
        if name not in available:
            env[f"{upper}_ENABLED"] = "false"
            continue
        env[f"{upper}_BASE_URL"] = sandbox_base_url(emulator_root, name)
        if name not in KEYLESS_PROVIDERS:
            env[f"{upper}_API_KEY"] = (keys or {}).get(name, f"reliability-placeholder-{name}")
    env.update(extra)
    return env
