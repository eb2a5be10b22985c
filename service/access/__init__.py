"""Who may ask, and how much: the gate every request passes before any work is done.

API keys from the environment or a file (`keys`), the guard that checks them on each route
(`guard`), the HMAC names callers are known by in the store and the limits (`callers`), the
per-caller rate limit, shared through Redis in a fleet (`rate_limit`), and the bound on work
in flight that sheds load with 503 (`admission`).
"""
