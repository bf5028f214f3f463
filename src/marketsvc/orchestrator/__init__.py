"""The data orchestrator: the only entry point for the API and the jobs.

``DataOrchestrator`` (service.py) answers typed requests — price, prices, historical,
technical, news, fundamentals — through the tiered cache and the provider chains; every answer
is an ``Envelope`` (answers.py) that says where its data came from and how fresh it is.
"""

from marketsvc.orchestrator.answers import Envelope
from marketsvc.orchestrator.service import DataOrchestrator

__all__ = ["DataOrchestrator", "Envelope"]
