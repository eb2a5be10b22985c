"""The HTTP routes, one module per resource: decorators, OpenAPI text, one call each.

They read the request and hand it to the room that does the work (`service.assessment.flow`,
the registry, the store); `lifecycle.Services` reaches them by dependency injection.
"""
