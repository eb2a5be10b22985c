"""Timing and bursts for rate-limit checks, shared by the fleet tests and `make bench-fleet`."""

from __future__ import annotations

import asyncio
import time

import httpx


def quiet_window(seconds_needed: float = 15) -> None:
    """Start a burst early enough in a minute that it ends in the same window."""
    left = 60 - time.time() % 60
    if left < seconds_needed:
        time.sleep(left + 0.05)


def admitted_in_one_burst(bases: list[str], key: str, total: int) -> int:
    """Send `total` GET /agents with `key` at once, round-robin over `bases`; how many got a 200."""

    async def burst() -> list[int]:
        async with httpx.AsyncClient(timeout=30) as client:
            headers = {"Authorization": f"Bearer {key}"}
            calls = [client.get(f"{bases[n % len(bases)]}/agents", headers=headers) for n in range(total)]
            return [r.status_code for r in await asyncio.gather(*calls)]

    found = asyncio.run(burst())
    assert set(found) <= {200, 429}, found
    return found.count(200)
