"""Symbol universes: every symbol the providers list, merged, searchable, and the rules that
turn a request symbol into crypto or stock.

``SymbolUniverses`` (store.py) holds the stored provider lists and the merged
``UniverseIndex`` (index.py); ``Resolver`` (resolver.py) applies contract section 4 over it.
Fetching the lists upstream is the orchestrator's job (``orchestrator/universes.py``): this
package sits below it, beside cache/planner/providers, and talks to no provider.
"""

from marketsvc.universe.index import Entry, SearchHit, UniverseIndex
from marketsvc.universe.resolver import Resolution, Resolver
from marketsvc.universe.store import SymbolUniverses

__all__ = ["Entry", "Resolution", "Resolver", "SearchHit", "SymbolUniverses", "UniverseIndex"]
