"""Provider adapters behind one protocol (``base.Provider``); ``registry`` builds them.

``CALL_BUDGET`` lets whoever runs an adapter under a rate limit charge every request the
adapter makes, not only the first (see ``_http.CallBudget``)."""

from marketsvc.providers._http import CALL_BUDGET, CallBudget

__all__ = ["CALL_BUDGET", "CallBudget"]
