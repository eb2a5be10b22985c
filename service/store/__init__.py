"""Every assessment kept: SQLite by default, PostgreSQL for fleets (see `database`)."""

from service.store.assessments import INTERRUPTED, Store, open_store
from service.store.errors import StoreOperationFailed
from service.store.records import DONE, PENDING, Finished, Inputs, Started, Stored

__all__ = [
    "DONE",
    "INTERRUPTED",
    "PENDING",
    "Finished",
    "Inputs",
    "Started",
    "Store",
    "StoreOperationFailed",
    "Stored",
    "open_store",
]
