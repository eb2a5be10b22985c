"""Work a worker does besides answering requests: async assessments, their leases, the
sweep that ends the ones whose worker died, and retention.

- An async assessment (`Prefer: respond-async`) runs as a task of the worker that accepted
  it, holding an in-flight slot. Its row stays `pending` under a lease this worker renews
  every third of `ATTACHE_ASYNC_LEASE_SECONDS`.
- Every worker sweeps: a pending row whose lease ran out belongs to a worker that died
  (crash, OOM kill), and is marked `interrupted`, so a poller gets an answer.
- SIGTERM: pending work gets the same grace as requests in flight; what has not finished
  by then is marked `interrupted`, never left pending.
- Retention: rows older than `ATTACHE_RETENTION_DAYS` are deleted in small batches, off the
  request path.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from service.assessment.answer import problem_answer
from service.errors import Interrupted
from service.logs import get_logger
from service.metrics import metrics
from service.settings import Settings
from service.store import Finished, Store, StoreOperationFailed

PURGE_BATCH = 500
PURGE_EVERY = 300.0
FINISH_ATTEMPTS = 5

log = get_logger("attache.background")


def interrupted(reason: str) -> Finished:
    detail = {
        "lease": "the worker running this assessment stopped answering (crashed or was killed); send it again",
        "shutdown": "the worker running this assessment shut down before it finished; send it again",
    }[reason]
    return problem_answer(Interrupted(detail, headers={"Retry-After": "1"})).finished


def lease_until(settings: Settings) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=settings.async_lease_seconds)


class Background:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.running: dict[str, asyncio.Task[None]] = {}
        self._loops: list[asyncio.Task[None]] = []

    def start(self) -> None:
        if not self.store.enabled:
            return  # ATTACHE_DATABASE_URL=off: nothing is kept, so nothing to renew, sweep or purge
        lease = self.settings.async_lease_seconds
        self._loops = [
            asyncio.create_task(self._every(lease / 3, self._renew), name="attache-renew"),
            asyncio.create_task(self._every(lease / 2, self._sweep), name="attache-sweep"),
            asyncio.create_task(self.store.reopen(), name="attache-store-reopen"),
        ]
        if self.settings.retention_days:
            self._loops.append(asyncio.create_task(self._every(PURGE_EVERY, self._purge), name="attache-purge"))

    def run(self, assessment_id: str, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` (an async assessment) as a task until it ends or the worker shuts down."""
        task = asyncio.create_task(work, name=f"attache-assessment-{assessment_id}")
        self.running[assessment_id] = task
        task.add_done_callback(lambda _: self.running.pop(assessment_id, None))

    async def finish(self, assessment_id: str, finished: Finished) -> None:
        """Keep an async answer; a store that is briefly down gets a few more tries."""
        for attempt in range(FINISH_ATTEMPTS):
            try:
                await self.store.finish(assessment_id, finished)
                return
            except StoreOperationFailed:
                await asyncio.sleep(0.5 * 2**attempt)
        log.error("async assessment answered but not kept", assessment_id=assessment_id)

    async def stop(self, grace: float) -> None:
        """Give running assessments `grace` seconds, then mark the rest interrupted."""
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        if self.running:
            log.info("waiting for async assessments", running=len(self.running), grace_seconds=grace)
            await asyncio.wait(list(self.running.values()), timeout=grace)
        left = list(self.running)
        for task in list(self.running.values()):
            task.cancel()
        if left:
            try:
                count = await self.store.interrupt(interrupted("shutdown"), ids=left)
                metrics().interrupted.labels("shutdown").inc(count)
                log.warning("async assessments interrupted by shutdown", count=count)
            except StoreOperationFailed:
                log.error("async assessments left pending at shutdown; the sweep will end them", count=len(left))

    async def _every(self, seconds: float, job: Callable[[], Awaitable[None]]) -> None:
        while True:
            # Jitter, so the workers of a fleet do not all sweep in the same instant.
            await asyncio.sleep(seconds * random.uniform(0.8, 1.2))  # noqa: S311 - not security
            with contextlib.suppress(StoreOperationFailed):  # counted and logged by the store; tried next round
                await job()

    async def _renew(self) -> None:
        if self.running:
            await self.store.renew(list(self.running), lease_until(self.settings))

    async def _sweep(self) -> None:
        count = await self.store.interrupt(interrupted("lease"), expired_at=dt.datetime.now(dt.UTC))
        if count:
            metrics().interrupted.labels("lease").inc(count)
            log.warning("async assessments interrupted: their worker stopped renewing", count=count)

    async def _purge(self) -> None:
        before = dt.datetime.now(dt.UTC) - dt.timedelta(days=self.settings.retention_days)
        while (deleted := await self.store.purge(before, PURGE_BATCH)) > 0:
            metrics().purged.inc(deleted)
            if deleted < PURGE_BATCH:
                break
            await asyncio.sleep(0.1)  # small batches, with room for requests between them
