"""The one failure the store reports: whatever went wrong below, the caller sees `StoreOperationFailed`."""


class StoreOperationFailed(Exception):
    """The store could not do what was asked; the request goes on without it where it can."""
