"""What Attaché says on the wire, beneath the routes: the request id and access log around every
request (`request_context`), the typed request body (`body`), and the OpenAPI document
(`openapi` builds it from Litestar's, `contract` completes it with every status, media type
and header), with the vendored Swagger UI in `static/`.
"""
