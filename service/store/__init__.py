"""Every assessment kept: SQLite by default, PostgreSQL for fleets (see `database`)."""

from service.store.records import DONE, PENDING, Finished, Inputs, Started, Stored
from service.store.store import INTERRUPTED, Store, StoreUnavailable, open_store

__all__ = [
    "DONE",
    "INTERRUPTED",
    "PENDING",
    "Finished",
    "Inputs",
    "Started",
    "Store",
    "StoreUnavailable",
    "Stored",
    "open_store",
]
