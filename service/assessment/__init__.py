"""The /assess use case: a news item in, a persona's typed assessment out, kept.

The lifecycle of one request, each stage a value, each value's module:

    AssessRequest  request     the body as the caller sent it (msgspec-checked: 400)
        |                      + Directives (directives): Idempotency-Key, Prefer, Cache-Control
        v
    Prepared       prepare     validated, resolved to a pinned prompt version, rendered (404/422)
        |
        |  flow: claim the key (idempotency, async) -> cache lookup -> admit (503 when full)
        |        `Replayed` (the key's stored row) or `Pending` (202, background) leave here
        v
    Completed      complete    the provider's validated answer in its AssessmentEnvelope (envelope)
        |
        v
    Answer         answer      status, exact body bytes, headers: what is sent and what is kept
        |                      (a problem is an answer too)
        v
    Stored         (store)     kept before it is sent; `cache` answers identical requests from it

`flow` is the one place that knows that order; the route reads the request and calls it
once. `background` runs 202 work, renews its leases and sweeps what dead workers left;
`markdown` renders an envelope in the sample's layout (`templates/`).
"""
