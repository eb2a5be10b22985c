"""Every assessment kept: SQLite by default, PostgreSQL for fleets.

    assessments    every query the service makes, behind one guard (deadline, accounting)
    sqlite_writer  finished rows in group commits; SQLite's loop writer, checkpoints, WAL
    database       engines, URLs, the schema brought to head (migrations/, Alembic)
    tables         the table definitions; records: the rows as typed values
    errors         StoreOperationFailed, the one failure callers see

Handlers never build SQL. Retention (deleting rows past ATTACHE_RETENTION_DAYS) is a store
query (`Store.purge`) run on a timer by `service.assessment.background`.
"""

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
