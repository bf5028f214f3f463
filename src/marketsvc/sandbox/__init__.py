"""The upstream emulator (sandbox): the providers' real paths and wire formats, synthetic data."""

from marketsvc.sandbox._framework import ProviderEmulator, SandboxState
from marketsvc.sandbox.app import create_sandbox_app, sandbox_base_url

__all__ = ["ProviderEmulator", "SandboxState", "create_sandbox_app", "sandbox_base_url"]
